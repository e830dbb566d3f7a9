"""What the simulated marketplace holds: Amazon products with offers, and BASE shops with items.

A :class:`Scenario` is plain data, seeded and deterministic. The :class:`~ecauto_sandbox.Sandbox`
copies it when it starts, so one scenario can back several sandboxes and is never mutated by them.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from ecauto_lib.domain import Outcome, PriceSource
from ecauto_sandbox.vocabulary import BRAND_ROMAJI, CATEGORIES, ITEM_DETAIL, SHOP_NAMES, Category

MARKETPLACE_ID = "A1VC38T7YXB528"
DEFAULT_MAX_DELIVERY_HOURS = 72

# Payload statuses of getItemOffers(Batch) [sp-api.md §3.1].
SUCCESS = "Success"
NO_BUYABLE_OFFERS = "NoBuyableOffers"
TOO_SOON = "ActiveButTooSoonForProcessing"
PRODUCT_STATUSES = (SUCCESS, NO_BUYABLE_OFFERS, TOO_SOON)
# getItemOffers(Batch) lists at most 20 offers of the requested condition, the lowest priced
# (productPricingV0.json ``OfferDetailList.maxItems``); the rest appear only in the Summary.
MAX_LISTED_OFFERS = 20
# Per-item errors an ASIN can answer on every call (``Product.item_error``): removed from the
# catalog (per-item 400, as for an unknown ASIN) or failing on Amazon's side (per-item 500).
ITEM_ERRORS = ("InvalidInput", "InternalFailure")


@dataclass
class Offer:
    """One seller's offer on Amazon.co.jp. Money is integer yen; ``points`` are Amazon points (1 pt = ¥1)."""

    seller_id: str
    listing_yen: int
    shipping_yen: int = 0
    points: int = 0
    condition: str = "new"  # new | used | collectible | refurbished (lower case, as in responses)
    sub_condition: str = "new"  # new | mint | very_good | good | acceptable
    fba: bool = False
    prime: bool = False
    min_hours: int = 24
    max_hours: int | None = 48
    availability: str = "NOW"  # NOW | FUTURE_WITHOUT_DATE | FUTURE_WITH_DATE
    available_date: str | None = None
    featured: bool = True
    ships_from_country: str = "JP"
    ships_from_state: str | None = None
    feedback_count: int = 250
    feedback_rating: float = 97.0

    @property
    def total_yen(self) -> int:
        """What a buyer pays: ListingPrice + Shipping (points are a rebate, not a discount)."""
        return self.listing_yen + self.shipping_yen

    @property
    def landed_yen(self) -> int:
        """Amazon's LandedPrice: ListingPrice + Shipping − Points."""
        return self.listing_yen + self.shipping_yen - self.points

    def ships_within(self, hours: int) -> bool:
        """Available now and promised within ``hours`` (an offer without maximumHours does not pass)."""
        return self.availability == "NOW" and self.max_hours is not None and self.max_hours <= hours


@dataclass(frozen=True)
class Expectation:
    """What a correct client should conclude about a product (the simulator's intent, for tests)."""

    outcome: Outcome
    price_yen: int | None = None  # ListingPrice + Shipping of the chosen offer
    shipping_yen: int | None = None
    points: int | None = None
    offer_count: int | None = None  # Summary.TotalOfferCount: every offer, every condition
    price_source: PriceSource | None = None  # a listed offer's price, or the Summary's


def cheapest_in_time(offers: list[Offer], max_delivery_hours: int) -> Offer | None:
    """The cheapest (ListingPrice + Shipping) new offer of ``offers`` that ships in time.

    Ties: fulfilled by Amazon first, then more points.
    """
    eligible = [o for o in offers if o.condition == "new" and o.ships_within(max_delivery_hours)]
    return min(eligible, key=lambda o: (o.total_yen, not o.fba, -o.points), default=None)


@dataclass
class Product:
    """An Amazon.co.jp product: catalog facts plus its current offers.

    ``status`` overrides the payload status: ``None`` means derived (``Success`` with offers,
    ``NoBuyableOffers`` without); ``"ActiveButTooSoonForProcessing"`` answers with no offers and
    ``Summary.OffersAvailableTime`` (``offers_available_at``, or request time + 4 h when None).
    ``stashed_offers`` keeps the offers a sell-out removed, for a later restock. ``item_error``
    (one of :data:`ITEM_ERRORS`) makes every offers call for the ASIN answer that per-item error.
    """

    asin: str
    title: str
    brand: str
    offers: list[Offer] = field(default_factory=list)
    category: str = "ホーム&キッチン"
    classification_id: str = "3828871"
    display_group: str = "home_display_on_website"
    display_group_name: str = "ホーム&キッチン"
    manufacturer: str | None = None
    model_number: str | None = None
    list_price_yen: int | None = None
    sales_rank: int = 10_000
    image_ids: tuple[str, ...] = ()
    jan: str | None = None
    status: str | None = None
    offers_available_at: datetime | None = None
    stashed_offers: list[Offer] = field(default_factory=list)
    item_error: str | None = None

    def payload_status(self, now: datetime | None = None) -> str:
        """The ``payload.status`` getItemOffers answers with (at virtual time ``now``).

        A too-soon status with an explicit ``offers_available_at`` ends at that time.
        """
        if self.status == TOO_SOON and not (
            now is not None and self.offers_available_at is not None and now >= self.offers_available_at
        ):
            return TOO_SOON
        return SUCCESS if self.offers else NO_BUYABLE_OFFERS

    def new_offers(self) -> list[Offer]:
        return [o for o in self.offers if o.condition == "new"]

    def chosen_offer(self, max_delivery_hours: int = DEFAULT_MAX_DELIVERY_HOURS) -> Offer | None:
        """The cheapest (ListingPrice + Shipping) new offer that ships within ``max_delivery_hours``,
        over every offer (listed or not: the truth, not what an answer shows)."""
        return cheapest_in_time(self.new_offers(), max_delivery_hours)

    def listed_offers(self, condition: str = "new") -> list[Offer]:
        """The offers getItemOffers lists for ``condition``: the :data:`MAX_LISTED_OFFERS` lowest by
        landed price (then listing price). Which order Amazon cuts by is not documented beyond
        "lowest priced" (UNCONFIRMED); landed price is the model's own price of an offer."""
        mine = sorted(
            (o for o in self.offers if o.condition == condition), key=lambda o: (o.landed_yen, o.listing_yen)
        )
        return mine[:MAX_LISTED_OFFERS]

    def summary_fba_offer(self) -> Offer | None:
        """The offer behind ``Summary.LowestPrices``' new Amazon-fulfilled entry (lowest landed)."""
        fba = [o for o in self.new_offers() if o.fba]
        return min(fba, key=lambda o: o.landed_yen, default=None)

    def expected(
        self, max_delivery_hours: int = DEFAULT_MAX_DELIVERY_HOURS, now: datetime | None = None
    ) -> Expectation:
        """What a sync should observe for this product from what Amazon's answer shows (docs/sandbox.md).

        With more than 20 new offers the answer lists only the lowest 20. If none of those ships in
        time, a correct client may use the Summary's Amazon-fulfilled lowest price when no listed
        offer is Amazon-fulfilled (that FBA offer is then not in the list) and it really ships in
        time; otherwise nothing in the answer shows the buyable offer and the stock is unknown.
        """
        status = self.payload_status(now)
        if status == TOO_SOON or self.item_error:
            return Expectation(Outcome.ERROR)
        count = len(self.offers)
        if status == NO_BUYABLE_OFFERS or not self.new_offers():
            return Expectation(Outcome.OUT_OF_STOCK, offer_count=count)
        listed = self.listed_offers("new")
        offer = cheapest_in_time(listed, max_delivery_hours)
        source = PriceSource.OFFER
        if offer is None and len(self.new_offers()) > len(listed):  # the list stopped at 20
            fba = self.summary_fba_offer()
            if fba is None or any(o.fba for o in listed) or not fba.ships_within(max_delivery_hours):
                return Expectation(Outcome.ERROR, offer_count=count)  # unknown, never gone
            offer, source = fba, PriceSource.SUMMARY
        if offer is None:
            return Expectation(Outcome.FILTERED_OUT, offer_count=count)
        return Expectation(
            Outcome.IN_STOCK,
            price_yen=offer.total_yen,
            shipping_yen=offer.shipping_yen,
            points=offer.points,
            offer_count=count,
            price_source=source,
        )


@dataclass
class BaseItem:
    """A BASE item (商品). ``asin`` is the simulator's bookkeeping of what it lists (not sent by BASE).

    ``created`` / ``modified`` are Unix seconds; ``None`` lets the sandbox fill them in from its clock.
    ``images`` holds the image file names of slots 1..20 (``None`` for an empty slot).
    ``variations`` are BASE's variation objects (``variation_id``, ``variation``, ``variation_stock``,
    ``variation_identifier``); an item that has any shows their sum as its ``stock`` (base-api.md §7).
    """

    item_id: int
    title: str
    price: int
    identifier: str | None
    asin: str | None = None
    detail: str = ITEM_DETAIL
    stock: int = 1
    visible: int = 1
    list_order: int = 1
    proper_price: int | None = None
    item_tax_type: int = 1
    created: int | None = None
    modified: int | None = None
    images: list[str | None] = field(default_factory=list)
    variations: list[dict] = field(default_factory=list)
    deleted: bool = False

    def __post_init__(self) -> None:
        if self.variations:
            self.stock = sum(int(v.get("variation_stock") or 0) for v in self.variations)


def variation(variation_id: int, label: str, stock: int, identifier: str | None = None) -> dict:
    """A BASE variation object, in the key order of the current docs (barcode omitted)."""
    return {
        "variation_id": variation_id,
        "variation": label,
        "variation_stock": stock,
        "variation_identifier": identifier,
    }


@dataclass(frozen=True)
class Sale:
    """A scenario event: an order on BASE ``after`` the clock starts, decrementing stock like one
    (``variation_id`` for a variation's stock). Applied once the virtual clock passes it."""

    shop_id: str
    item_id: int
    after: timedelta
    quantity: int = 1
    variation_id: int | None = None


@dataclass
class Shop:
    """A BASE shop (one authorising account) and its items."""

    id: str
    name: str
    items: list[BaseItem] = field(default_factory=list)


@dataclass
class Scenario:
    """Products on Amazon and items in BASE shops. ASINs listed in a shop but absent from
    ``products`` are unknown to Amazon (per-item 400 from getItemOffersBatch)."""

    products: dict[str, Product]
    shops: list[Shop]
    name: str = "custom"
    sales: list[Sale] = field(default_factory=list)  # orders on BASE at given virtual times

    def copy(self) -> Scenario:
        """A deep copy (much faster than ``copy.deepcopy`` for 10,000-product scenarios)."""
        products = {
            asin: replace(
                p,
                offers=[replace(o) for o in p.offers],
                stashed_offers=[replace(o) for o in p.stashed_offers],
            )
            for asin, p in self.products.items()
        }
        shops = [
            Shop(
                s.id,
                s.name,
                [
                    replace(i, images=list(i.images), variations=[dict(v) for v in i.variations])
                    for i in s.items
                ],
            )
            for s in self.shops
        ]
        return Scenario(products=products, shops=shops, name=self.name, sales=list(self.sales))

    def listings(self) -> list[tuple[str, str, int]]:
        """``(shop_id, asin, item_id)`` for every item that lists an ASIN."""
        return [(s.id, i.asin, i.item_id) for s in self.shops for i in s.items if i.asin and not i.deleted]

    def listed_asins(self) -> list[str]:
        """Every listed ASIN once, in first-listed order."""
        return list(dict.fromkeys(asin for _, asin, _ in self.listings()))

    def expected(self, asin: str, max_delivery_hours: int = DEFAULT_MAX_DELIVERY_HOURS) -> Expectation:
        """The outcome a sync should reach for ``asin`` (ERROR for ASINs Amazon does not know)."""
        product = self.products.get(asin)
        return product.expected(max_delivery_hours) if product else Expectation(Outcome.ERROR)

    @classmethod
    def demo(cls) -> Scenario:
        """The two-shop, eleven-ASIN demo (see docs/sandbox.md for what its first sync does)."""
        from ecauto_sandbox.demo import demo_scenario

        return demo_scenario()

    @classmethod
    def generate(
        cls,
        n_asins: int,
        n_shops: int = 2,
        seed: int = 0,
        overlap: float = 0.1,
        out_of_stock_share: float = 0.05,
        filtered_share: float = 0.03,
        too_soon_share: float = 0.0,
        invalid_share: float = 0.0,
        *,
        crowded_share: float = 0.0,
        crowded_unknown_share: float = 0.0,
        mispriced_share: float = 0.2,
        hidden_share: float = 0.05,
        markup_percent: int = 130,
    ) -> Scenario:
        """A seeded scenario of ``n_asins`` listed ASINs over ``n_shops`` shops.

        Shares partition the ASINs: sold out (no offers), filtered (every new offer ships in > 72 h
        or later), too soon (``ActiveButTooSoonForProcessing``), invalid (unknown to Amazon),
        crowded (21-28 cheap new offers shipping from abroad in 10-17 days in front of a dearer
        Amazon-fulfilled one: Amazon lists the 20 cheapest, the FBA price is only in the Summary),
        crowded unknown (the same, but the offer that ships in time is a merchant's: no answer
        shows it); the rest are in stock. ``overlap`` is the share of ASINs listed in a second shop.
        BASE prices start at the Amazon price × ``markup_percent``/100 rounded half-up to ¥10,
        except ``mispriced_share`` of the in-stock listings, which are off by ¥150–¥2,000;
        ``hidden_share`` of in-stock listings start hidden (a publish to do), and sold-out or
        filtered listings start visible (a hide to do) except one in ten.
        """
        return _Generator(seed).scenario(
            n_asins,
            n_shops,
            overlap=overlap,
            shares={
                "out_of_stock": out_of_stock_share,
                "filtered": filtered_share,
                "too_soon": too_soon_share,
                "invalid": invalid_share,
                "crowded": crowded_share,
                "crowded_unknown": crowded_unknown_share,
            },
            mispriced_share=mispriced_share,
            hidden_share=hidden_share,
            markup_percent=markup_percent,
        )


def round_half_up(yen: int, numerator: int, denominator: int, unit: int = 10) -> int:
    """``yen × numerator / denominator`` rounded half-up to ``unit`` yen, in integers."""
    return (2 * yen * numerator + denominator * unit) // (2 * denominator * unit) * unit


_ASIN_ALPHABET = string.ascii_uppercase + string.digits


class _Generator:
    """Deterministic scenario generation from one ``random.Random(seed)``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._asins: set[str] = set()
        self._item_ids: set[int] = set()
        self._sellers = [f"A{''.join(self.rng.choices(_ASIN_ALPHABET, k=13))}" for _ in range(40)]

    def asin(self) -> str:
        while True:
            candidate = "B0" + "".join(self.rng.choices(_ASIN_ALPHABET, k=8))
            if candidate not in self._asins:
                self._asins.add(candidate)
                return candidate

    def item_id(self) -> int:
        while True:
            candidate = self.rng.randrange(10_000_000, 1_000_000_000)
            if candidate not in self._item_ids:
                self._item_ids.add(candidate)
                return candidate

    def base_price(self) -> int:
        """A typical Japanese retail price between ¥500 and ¥30,000 (…80, …98, …00 endings)."""
        return self.rng.randrange(6, 301) * 100 - self.rng.choice((0, 20, 2, 10, 50))

    def product(self, asin: str, kind: str) -> Product:
        rng = self.rng
        category: Category = rng.choice(CATEGORIES)
        brand = rng.choice(category.brands)
        noun = rng.choice(category.nouns)
        spec = " ".join(rng.sample(category.specs, k=2))
        model = f"{''.join(rng.choices(string.ascii_uppercase, k=rng.randint(2, 3)))}-{rng.randint(10, 999)}"
        price = self.base_price()
        if kind in ("crowded", "crowded_unknown"):
            offers = self.crowded_offers(price, fba=(kind == "crowded"))
        else:
            offers = self.offers(price, filtered=(kind == "filtered"))
        product = Product(
            asin=asin,
            title=f"{brand} {noun} {spec} {model}",
            brand=brand,
            offers=offers,
            category=category.display_name,
            classification_id=category.classification_id,
            display_group=category.display_group,
            display_group_name=category.display_group_name,
            manufacturer=BRAND_ROMAJI.get(brand, brand),
            model_number=model,
            list_price_yen=(price * rng.choice((11, 12, 13, 15)) // 1000 * 100)
            if rng.random() < 0.4
            else None,
            sales_rank=rng.randint(50, 400_000),
            image_ids=tuple(
                "".join(rng.choices(string.ascii_letters + string.digits, k=11))
                for _ in range(rng.randint(1, 3))
            ),
            jan="49" + "".join(rng.choices(string.digits, k=11)),
        )
        if kind == "out_of_stock":
            product.stashed_offers, product.offers = product.offers, []
        elif kind == "too_soon":
            product.status = TOO_SOON
        return product

    def offers(self, price: int, *, filtered: bool) -> list[Offer]:
        """1–6 offers. Unless ``filtered``, one new offer ships within 72 h and is the cheapest such."""
        rng = self.rng
        n = rng.randint(1, 6)
        offers: list[Offer] = []
        sellers = rng.sample(self._sellers, k=n)
        if filtered:
            offers.append(self.slow_offer(sellers[0], price))
        else:
            offers.append(self.fast_offer(sellers[0], price))
        chosen_total = offers[0].total_yen
        for k, seller in enumerate(sellers[1:], start=1):
            roll = rng.random()
            if roll < 0.35:  # a used offer, usually cheaper, ships fast (ignored: not new)
                listing = max(100, price * rng.randint(55, 90) // 100)
                offers.append(
                    self.fast_offer(
                        seller, listing, condition="used", sub=rng.choice(("mint", "very_good", "good"))
                    )
                )
            elif roll < 0.55 or filtered:  # a slow new offer, sometimes cheaper than the chosen one
                offers.append(self.slow_offer(seller, price * rng.randint(85, 120) // 100))
            else:  # a dearer new offer that ships in time
                offer = self.fast_offer(seller, price + rng.randint(1, 40) * 50)
                if offer.total_yen <= chosen_total:
                    offer.listing_yen = chosen_total - offer.shipping_yen + 10 * k + 10
                offers.append(offer)
        return offers

    def crowded_offers(self, price: int, *, fba: bool) -> list[Offer]:
        """21-28 new offers shipping from abroad at 50-85 % of ``price`` (the cheapest, listed, none in
        time), then one offer at ``price`` that ships in time: Amazon-fulfilled when ``fba``, else a
        merchant's; plus 0-2 used ones."""
        rng = self.rng
        n_slow = rng.randint(MAX_LISTED_OFFERS + 1, MAX_LISTED_OFFERS + 8)
        n_used = rng.randint(0, 2)
        sellers = rng.sample(self._sellers, k=n_slow + n_used + 1)
        offers = []
        for seller in sellers[:n_slow]:
            total = price * rng.randint(50, 85) // 100
            shipping = rng.choice((0, 300, 500))
            low = rng.choice((240, 288, 336))
            offers.append(
                Offer(
                    seller_id=seller,
                    listing_yen=max(100, total - shipping),
                    shipping_yen=shipping,
                    fba=False,
                    featured=False,
                    min_hours=low,
                    max_hours=low + 72,
                    ships_from_country=rng.choice(("CN", "US", "HK")),
                    feedback_count=rng.randint(1, 800),
                    feedback_rating=float(rng.randint(70, 95)),
                )
            )
        for seller in sellers[n_slow : n_slow + n_used]:
            listing = max(100, price * rng.randint(40, 60) // 100)
            offers.append(self.fast_offer(seller, listing, condition="used", sub="good"))
        buyable = self.fast_offer(sellers[-1], price)
        buyable.fba = buyable.prime = fba
        buyable.min_hours, buyable.max_hours = (0, 24) if fba else (24, 48)
        buyable.points = price // 100 if fba else 0
        if not fba:
            buyable.shipping_yen = 0
        offers.append(buyable)
        return offers

    def fast_offer(self, seller: str, listing: int, *, condition: str = "new", sub: str = "new") -> Offer:
        rng = self.rng
        fba = rng.random() < 0.6
        if fba:
            return Offer(
                seller_id=seller,
                listing_yen=listing,
                shipping_yen=0,
                points=listing * rng.choice((0, 1, 1, 2, 5)) // 100,
                condition=condition,
                sub_condition=sub,
                fba=True,
                prime=True,
                min_hours=0,
                max_hours=24,
                ships_from_state="千葉県",
            )
        low = rng.choice((24, 24, 48))
        return Offer(
            seller_id=seller,
            listing_yen=listing,
            shipping_yen=rng.choice((0, 0, 350, 500, 550, 800)),
            points=listing * rng.choice((0, 0, 1)) // 100,
            condition=condition,
            sub_condition=sub,
            fba=False,
            prime=False,
            min_hours=low,
            max_hours=low + 24,
            ships_from_state=rng.choice(("東京都", "大阪府", "愛知県", "福岡県", "北海道")),
            feedback_count=rng.randint(3, 50_000),
            feedback_rating=float(rng.randint(80, 100)),
        )

    def slow_offer(self, seller: str, listing: int) -> Offer:
        """A new offer that misses the 72 h delivery filter: long lead time or not available now."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            low = rng.choice((96, 120, 168, 240))
            return Offer(
                seller_id=seller,
                listing_yen=listing,
                shipping_yen=rng.choice((0, 800, 1200, 1500)),
                fba=False,
                min_hours=low,
                max_hours=low + rng.choice((48, 96, 168)),
                ships_from_country=rng.choice(("CN", "US", "JP")),
                feedback_count=rng.randint(1, 5000),
                feedback_rating=float(rng.randint(70, 99)),
            )
        future_with_date = roll < 0.8
        return Offer(
            seller_id=seller,
            listing_yen=listing,
            shipping_yen=0,
            fba=True,
            prime=True,
            min_hours=0,
            max_hours=24,
            availability="FUTURE_WITH_DATE" if future_with_date else "FUTURE_WITHOUT_DATE",
            available_date="2099-01-15T00:00:00Z" if future_with_date else None,
            ships_from_state="千葉県",
        )

    def scenario(
        self,
        n_asins: int,
        n_shops: int,
        *,
        overlap: float,
        shares: dict[str, float],
        mispriced_share: float,
        hidden_share: float,
        markup_percent: int,
    ) -> Scenario:
        if n_asins < 1 or n_shops < 1:
            raise ValueError("n_asins and n_shops must be >= 1")
        for name, share in {**shares, "overlap": overlap, "mispriced": mispriced_share}.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} share must be in [0, 1], got {share}")
        if sum(shares.values()) > 1.0:
            raise ValueError("out_of_stock + filtered + too_soon + invalid + crowded shares exceed 1")
        rng = self.rng
        asins = [self.asin() for _ in range(n_asins)]
        order = list(range(n_asins))
        rng.shuffle(order)
        kinds = ["in_stock"] * n_asins
        start = 0
        for kind, share in shares.items():
            count = round(share * n_asins)
            for index in order[start : start + count]:
                kinds[index] = kind
            start += count
        products = {
            asin: self.product(asin, kind)
            for asin, kind in zip(asins, kinds, strict=True)
            if kind != "invalid"
        }
        # Which shops list which ASIN: one shop each, a second one for ``overlap`` of them.
        shop_asins: list[list[tuple[str, str]]] = [[] for _ in range(n_shops)]
        for asin, kind in zip(asins, kinds, strict=True):
            first = rng.randrange(n_shops)
            shop_asins[first].append((asin, kind))
            if n_shops > 1 and rng.random() < overlap:
                second = (first + rng.randrange(1, n_shops)) % n_shops
                shop_asins[second].append((asin, kind))
        shops = []
        for index, entries in enumerate(shop_asins):
            name = SHOP_NAMES[index % len(SHOP_NAMES)]
            if index >= len(SHOP_NAMES):
                name = f"{name} {index // len(SHOP_NAMES) + 1}号店"
            items = [
                self.item(
                    products.get(asin), asin, kind, position, mispriced_share, hidden_share, markup_percent
                )
                for position, (asin, kind) in enumerate(entries, start=1)
            ]
            shops.append(Shop(id=f"base_account_{index + 1}", name=name, items=items))
        return Scenario(
            products=products, shops=shops, name=f"generated(n={n_asins}, shops={n_shops}, seed={self.seed})"
        )

    def item(
        self,
        product: Product | None,
        asin: str,
        kind: str,
        list_order: int,
        mispriced_share: float,
        hidden_share: float,
        markup_percent: int,
    ) -> BaseItem:
        rng = self.rng
        offers = (product.offers or product.stashed_offers) if product else []
        chosen = Product(asin, "", "", offers=offers).chosen_offer()
        fallback = (
            min((o.total_yen for o in offers if o.condition == "new"), default=None) or self.base_price()
        )
        amazon = chosen.total_yen if chosen else fallback
        price = round_half_up(amazon, markup_percent, 100)
        visible = 1
        if kind in ("in_stock", "crowded"):
            if rng.random() < mispriced_share:
                price = max(300, price + rng.choice((-1, 1)) * rng.randint(15, 200) * 10)
            if rng.random() < hidden_share:
                visible = 0
        elif rng.random() < 0.1:
            visible = 0
        if rng.random() < 0.5:
            identifier = asin
        else:
            stamp = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 330 * 86400))
            identifier = f"b-{asin}-{stamp:%Y%m%d%H%M%S}"
        title = product.title if product else f"{rng.choice(CATEGORIES).nouns[0]} {asin}"
        return BaseItem(
            item_id=self.item_id(),
            title=title[:100],
            price=price,
            identifier=identifier,
            asin=asin,
            visible=visible,
            list_order=list_order,
            images=[f"{rng.getrandbits(128):032x}.jpg"] + [None] * 19,
        )
