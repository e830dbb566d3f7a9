"""Japanese product vocabulary for generated scenarios (categories, brands, nouns, shop names)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """A browse category: its Amazon.co.jp display name and id, display group, brands and nouns."""

    display_name: str
    classification_id: str
    display_group: str
    display_group_name: str
    brands: tuple[str, ...]
    nouns: tuple[str, ...]
    specs: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(
        "キッチン家電",
        "2421961051",
        "kitchen_display_on_website",
        "ホーム&キッチン",
        ("山善", "象印マホービン", "タイガー魔法瓶", "ティファール", "アイリスオーヤマ", "パナソニック"),
        (
            "電気ケトル",
            "ホットプレート",
            "電子レンジ",
            "トースター",
            "炊飯器",
            "コーヒーメーカー",
            "ハンドブレンダー",
        ),
        ("1.0L", "1.2L", "3合", "5.5合", "ブラック", "ホワイト", "温度調節機能付き"),
    ),
    Category(
        "水筒・マグボトル",
        "2424745051",
        "home_display_on_website",
        "ホーム&キッチン",
        ("サーモス", "象印マホービン", "タイガー魔法瓶", "スケーター", "ピーコック"),
        ("真空断熱タンブラー", "ステンレスマグ", "水筒", "スープジャー", "保冷ボトル"),
        ("350ml", "420ml", "480ml", "500ml", "600ml", "ステンレス", "ネイビー"),
    ),
    Category(
        "パソコン周辺機器",
        "2151901051",
        "pc_display_on_website",
        "パソコン・周辺機器",
        ("エレコム", "サンワサプライ", "バッファロー", "ロジクール", "Anker"),
        (
            "ワイヤレスマウス",
            "USB Type-C ケーブル",
            "USBハブ",
            "キーボード",
            "マウスパッド",
            "モバイルバッテリー",
        ),
        ("1m", "2m", "静音", "Bluetooth", "ブラック", "4ポート", "10000mAh"),
    ),
    Category(
        "生活家電",
        "3895771",
        "home_appliance_display_on_website",
        "家電&カメラ",
        ("アイリスオーヤマ", "シャープ", "ダイキン", "ドウシシャ", "山善", "パナソニック"),
        ("サーキュレーター", "加湿器", "空気清浄機", "扇風機", "セラミックヒーター", "除湿機"),
        ("静音", "首振り", "18畳", "リモコン付き", "ホワイト", "タイマー付き"),
    ),
    Category(
        "文房具・オフィス用品",
        "86731051",
        "office_product_display_on_website",
        "文房具・オフィス用品",
        ("コクヨ", "パイロット", "三菱鉛筆", "ぺんてる", "キングジム"),
        ("ボールペン", "キャンパスノート", "ファイル", "ラベルライター", "シャープペン"),
        ("0.5mm", "0.7mm", "10本パック", "A4", "B5", "黒"),
    ),
    Category(
        "ドラッグストア",
        "160384011",
        "drugstore_display_on_website",
        "ドラッグストア",
        ("花王", "ライオン", "サンスター", "パナソニック", "ユニ・チャーム"),
        ("乾電池", "歯ブラシ", "デンタルリンス", "ハンドソープ", "マスク"),
        ("単3形", "20本パック", "900ml", "詰め替え", "まとめ買い", "60枚入"),
    ),
)

BRAND_ROMAJI: dict[str, str] = {
    "山善": "YAMAZEN",
    "象印マホービン": "ZOJIRUSHI",
    "タイガー魔法瓶": "TIGER",
    "ティファール": "T-fal",
    "アイリスオーヤマ": "IRIS OHYAMA",
    "パナソニック": "Panasonic",
    "サーモス": "THERMOS",
    "スケーター": "SKATER",
    "ピーコック": "Peacock",
    "エレコム": "ELECOM",
    "サンワサプライ": "SANWA SUPPLY",
    "バッファロー": "BUFFALO",
    "ロジクール": "Logicool",
    "Anker": "Anker",
    "シャープ": "SHARP",
    "ダイキン": "DAIKIN",
    "ドウシシャ": "DOSHISHA",
    "コクヨ": "KOKUYO",
    "パイロット": "PILOT",
    "三菱鉛筆": "uni",
    "ぺんてる": "Pentel",
    "キングジム": "KING JIM",
    "花王": "Kao",
    "ライオン": "LION",
    "サンスター": "SUNSTAR",
    "ユニ・チャーム": "unicharm",
}

SHOP_NAMES: tuple[str, ...] = (
    "森のBAZAAR",
    "バイヤー氏屋【精神科医】",
    "くらしの道具店 ひだまり",
    "雑貨セレクト 青空商店",
    "まちかど家電館",
    "文具と暮らし こもれび",
    "はなまる良品ストア",
    "北欧インテリア Koti",
)

ITEM_DETAIL = (
    "Amazon.co.jp 取扱商品です。新品・未開封品をお届けします。"
    "ご注文確認後、通常3日以内に発送いたします。在庫状況により価格が変動する場合がございます。"
)
