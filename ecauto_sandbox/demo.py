"""The demo scenario: two shops and eleven ASINs, shaped like the original run report.

It is arranged so that the first full sync (markup 1.3, rounded half-up to ¥10, pushed when it
moves ≥ ¥100, 72 h delivery filter) shows every kind of change. ``DEMO_PLAN`` states, per ASIN,
what that sync should do; docs/sandbox.md has the same table.
"""

from __future__ import annotations

from ecauto_sandbox.scenario import BaseItem, Offer, Product, Scenario, Shop

# Sellers (Amazon's own JP seller id first).
AMAZON_JP = "AN1VRQENFRJN5"
_S1, _S2, _S3, _S4 = "A1B2C3D4E5F6G7", "A3KQ8WZ1RT5YPM", "A2X9MNB7VC4LQ0", "A1ZZH8E3UJ6T2K"


def _fba(listing: int, points: int = 0, seller: str = AMAZON_JP) -> Offer:
    return Offer(
        seller, listing, 0, points, fba=True, prime=True, min_hours=0, max_hours=24, ships_from_state="千葉県"
    )


def _merchant(
    listing: int, shipping: int, hours: tuple[int, int], points: int = 0, seller: str = _S1
) -> Offer:
    return Offer(
        seller, listing, shipping, points, min_hours=hours[0], max_hours=hours[1], ships_from_state="大阪府"
    )


def _used(listing: int, seller: str = _S2) -> Offer:
    return Offer(
        seller, listing, 350, condition="used", sub_condition="very_good", min_hours=24, max_hours=48
    )


def _slow(
    listing: int, shipping: int, hours: tuple[int, int], seller: str = _S3, country: str = "CN"
) -> Offer:
    return Offer(
        seller,
        listing,
        shipping,
        min_hours=hours[0],
        max_hours=hours[1],
        ships_from_country=country,
        feedback_count=37,
    )


def _product(
    asin: str,
    title: str,
    brand: str,
    maker: str,
    model: str,
    category: tuple[str, str, str, str],
    offers,
    **kw,
):
    display, node, group, group_name = category
    return Product(
        asin=asin,
        title=title,
        brand=brand,
        offers=list(offers),
        category=display,
        classification_id=node,
        display_group=group,
        display_group_name=group_name,
        manufacturer=maker,
        model_number=model,
        image_ids=(f"{asin[2:]}AL", f"{asin[2:]}PT"),
        **kw,
    )


_KITCHEN = ("電気ケトル", "2421961051", "kitchen_display_on_website", "ホーム&キッチン")
_BOTTLE = ("水筒・マグボトル", "2424745051", "home_display_on_website", "ホーム&キッチン")
_BATTERY = ("乾電池", "2133853051", "drugstore_display_on_website", "ドラッグストア")
_APPLIANCE = ("サーキュレーター", "2133892051", "home_appliance_display_on_website", "家電&カメラ")
_PC = ("パソコン周辺機器", "2151901051", "pc_display_on_website", "パソコン・周辺機器")
_BEAUTY = ("メンズシェーバー", "169980011", "beauty_display_on_website", "ビューティー")

# What the demo's first sync should do, per ASIN: (shop, action, detail). Prices: Amazon = the
# chosen offer's ListingPrice + Shipping; target = Amazon × 1.3 rounded half-up to ¥10.
DEMO_PLAN: dict[str, tuple[str, str, str]] = {
    "B0FGQJ45HW": ("base_account_1", "price_up", "Amazon ¥3,980 → target ¥5,170; BASE ¥4,680 → ¥5,170"),
    "B07YV55TNL": ("base_account_1", "unchanged", "Amazon ¥2,180 → target ¥2,830 = BASE ¥2,830"),
    "B06Y69FKT2": ("base_account_1", "hide", "sold out (NoBuyableOffers); visible 1 → 0, price untouched"),
    "B006OHKDW8": (
        "base_account_1",
        "within_threshold",
        "Amazon ¥1,280+¥350 = ¥1,630 → ¥2,120; BASE ¥2,180 (¥60)",
    ),
    "B08HXN835J": ("base_account_1", "price_down", "Amazon ¥5,980 → target ¥7,770; BASE ¥9,880 → ¥7,770"),
    "B07JHV82ST": ("base_account_2", "publish", "back in stock ¥1,480 → ¥1,920 = BASE ¥1,920; visible 0 → 1"),
    "B0DRCNW4GZ": ("base_account_2", "hide", "filtered: every new offer ships in > 72 h; visible 1 → 0"),
    "B07CZKGD7X": ("base_account_2", "price_up", "Amazon ¥12,800 → target ¥16,640; BASE ¥14,950 → ¥16,640"),
    "B09JS7R48N": (
        "base_account_2",
        "within_threshold",
        "Amazon ¥890 (a ¥780 new offer ships in 168 h: filtered) → ¥1,160; BASE ¥1,200 (¥40)",
    ),
    "B0C6X64277": ("base_account_2", "price_down", "Amazon ¥24,800 → target ¥32,240; BASE ¥35,800 → ¥32,240"),
    "B09YY6NZ7N": ("base_account_2", "unchanged", "Amazon ¥6,578 → target ¥8,550 = BASE ¥8,550"),
}


def demo_products() -> dict[str, Product]:
    products = [
        _product(
            "B0FGQJ45HW",
            "【Amazon.co.jp限定】山善 電気ケトル 1.0L 温度調節機能付き 保温機能 ブラック YKG-C1000(B)",
            "山善",
            "YAMAZEN",
            "YKG-C1000(B)",
            _KITCHEN,
            [_fba(3980, 40), _merchant(4280, 0, (48, 72), seller=_S4), _used(2900)],
            list_price_yen=5478,
            sales_rank=812,
        ),
        _product(
            "B07YV55TNL",
            "サーモス 真空断熱タンブラー 420ml ステンレス JDW-420 S",
            "サーモス(THERMOS)",
            "THERMOS",
            "JDW-420 S",
            _BOTTLE,
            [_fba(2180, 22), _merchant(2380, 350, (24, 48))],
            sales_rank=154,
        ),
        _product(
            "B06Y69FKT2",
            "パナソニック 乾電池 エボルタNEO 単3形 20本パック LR6NJ/20SW",
            "パナソニック(Panasonic)",
            "Panasonic",
            "LR6NJ/20SW",
            _BATTERY,
            [],
            sales_rank=2304,
            stashed_offers=[_fba(1990, 20)],
        ),
        _product(
            "B006OHKDW8",
            "象印マホービン 水筒 ステンレスマグ 480ml ブラック SM-SF48-BA",
            "象印マホービン(ZOJIRUSHI)",
            "ZOJIRUSHI",
            "SM-SF48-BA",
            _BOTTLE,
            [_merchant(1280, 350, (24, 48), points=13), _merchant(1680, 0, (24, 72), seller=_S4), _used(900)],
            sales_rank=3120,
        ),
        _product(
            "B08HXN835J",
            "アイリスオーヤマ サーキュレーター 静音 首振り 18畳 リモコン付き ホワイト PCF-SC15T",
            "アイリスオーヤマ(IRIS OHYAMA)",
            "IRIS OHYAMA",
            "PCF-SC15T",
            _APPLIANCE,
            [_fba(5980, 60), _merchant(6480, 0, (24, 48)), _slow(5200, 1500, (240, 336))],
            list_price_yen=7678,
            sales_rank=98,
        ),
        _product(
            "B07JHV82ST",
            "エレコム マウスパッド 大判 布製 滑り止め加工 ブラック MP-113BK",
            "エレコム(ELECOM)",
            "ELECOM",
            "MP-113BK",
            _PC,
            [_fba(1480, 15)],
            sales_rank=4410,
        ),
        _product(
            "B0DRCNW4GZ",
            "Anker Power Bank (24000mAh, 140W) 大容量 モバイルバッテリー USB PD対応 ブラック",
            "Anker",
            "Anker",
            "A1289",
            _PC,
            [
                _slow(12800, 1200, (168, 336)),
                _slow(13500, 0, (240, 408), seller=_S4, country="US"),
                _used(9800),
            ],
            list_price_yen=15990,
            sales_rank=1207,
        ),
        _product(
            "B07CZKGD7X",
            "ブラウン メンズ電気シェーバー シリーズ5 3枚刃 お風呂剃り可 5140s",
            "ブラウン(Braun)",
            "Braun",
            "5140s",
            _BEAUTY,
            [_fba(12800, 128), _merchant(13200, 0, (24, 48), seller=_S4)],
            list_price_yen=16500,
            sales_rank=640,
        ),
        _product(
            "B09JS7R48N",
            "サンワサプライ USB Type-C ケーブル 1m PD60W対応 ブラック KU-CCP510",
            "サンワサプライ(Sanwa Supply)",
            "SANWA SUPPLY",
            "KU-CCP510",
            _PC,
            [_fba(890, 9), _slow(780, 0, (120, 168), seller=_S3), _used(600)],
            sales_rank=5120,
        ),
        _product(
            "B0C6X64277",
            "シャープ 加湿空気清浄機 プラズマクラスター7000 18畳 ホワイト KI-RS40-W",
            "シャープ(SHARP)",
            "SHARP",
            "KI-RS40-W",
            _APPLIANCE,
            [_fba(24800, 248), _merchant(25980, 0, (48, 72), seller=_S4)],
            list_price_yen=35800,
            sales_rank=356,
        ),
        _product(
            "B09YY6NZ7N",
            "ドウシシャ 電動かき氷器 ふわふわ とろ雪 DHIS-21",
            "ドウシシャ(DOSHISHA)",
            "DOSHISHA",
            "DHIS-21",
            ("キッチン家電", "2421961051", "kitchen_display_on_website", "ホーム&キッチン"),
            [_fba(6578, 66)],
            sales_rank=2210,
        ),
    ]
    return {p.asin: p for p in products}


def _item(
    item_id: int, asin: str, title: str, price: int, identifier: str, order: int, visible: int = 1
) -> BaseItem:
    return BaseItem(
        item_id=item_id,
        title=title,
        price=price,
        identifier=identifier,
        asin=asin,
        visible=visible,
        list_order=order,
        images=[f"{item_id:x}{asin.lower()}.jpg"] + [None] * 19,
    )


def demo_scenario() -> Scenario:
    shop1 = Shop(
        "base_account_1",
        "森のBAZAAR",
        [
            _item(
                127634915,
                "B0FGQJ45HW",
                "山善 電気ケトル 1.0L 温度調節 保温 ブラック",
                4680,
                "b-B0FGQJ45HW-20251120123456",
                1,
            ),
            _item(127641203, "B07YV55TNL", "サーモス 真空断熱タンブラー 420ml", 2830, "B07YV55TNL", 2),
            _item(
                127655870,
                "B06Y69FKT2",
                "パナソニック エボルタNEO 単3形 20本",
                2590,
                "b-B06Y69FKT2-20251120124010",
                3,
            ),
            _item(127668412, "B006OHKDW8", "象印 ステンレスマグ 480ml ブラック", 2180, "B006OHKDW8", 4),
            _item(
                127702954,
                "B08HXN835J",
                "アイリスオーヤマ サーキュレーター 18畳",
                9880,
                "b-B08HXN835J-20251120125533",
                5,
            ),
        ],
    )
    shop2 = Shop(
        "base_account_2",
        "バイヤー氏屋【精神科医】",
        [
            _item(
                98211437,
                "B07JHV82ST",
                "エレコム マウスパッド 大判 MP-113BK",
                1920,
                "B07JHV82ST",
                1,
                visible=0,
            ),
            _item(
                98211502,
                "B0DRCNW4GZ",
                "Anker 大容量モバイルバッテリー 24000mAh",
                16980,
                "b-B0DRCNW4GZ-20251118093012",
                2,
            ),
            _item(98230771, "B07CZKGD7X", "ブラウン シェーバー シリーズ5 5140s", 14950, "B07CZKGD7X", 3),
            _item(
                98245019,
                "B09JS7R48N",
                "サンワサプライ USB Type-Cケーブル 1m",
                1200,
                "b-B09JS7R48N-20251119201544",
                4,
            ),
            _item(98260388, "B0C6X64277", "シャープ 加湿空気清浄機 KI-RS40-W", 35800, "B0C6X64277", 5),
            _item(
                98277146,
                "B09YY6NZ7N",
                "ドウシシャ 電動かき氷器 DHIS-21",
                8550,
                "b-B09YY6NZ7N-20251120081230",
                6,
            ),
        ],
    )
    return Scenario(products=demo_products(), shops=[shop1, shop2], name="demo")
