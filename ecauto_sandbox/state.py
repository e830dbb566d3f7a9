"""The simulator's mutable world: products, BASE items, tokens, quotas, faults and the request log.

Everything here is guarded by one re-entrant lock (``SandboxState.lock``); handlers hold it only
while they read or change state, never while they serialise or send an answer.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ecauto_sandbox.clock import VirtualClock
from ecauto_sandbox.faults import FaultInjector, Faults
from ecauto_sandbox.quotas import (
    BASE_DAY_LIMIT,
    BASE_HOUR_LIMIT,
    SP_API_USAGE_PLANS,
    BaseBudget,
    TokenBucket,
)
from ecauto_sandbox.records import RequestRecord
from ecauto_sandbox.scenario import (
    DEFAULT_MAX_DELIVERY_HOURS,
    ITEM_ERRORS,
    NO_BUYABLE_OFFERS,
    PRODUCT_STATUSES,
    SUCCESS,
    TOO_SOON,
    BaseItem,
    Offer,
    Product,
    Sale,
    Scenario,
)

# Token lifetimes in virtual seconds [sp-api.md §1, base-api.md §2].
LWA_ACCESS_TOKEN_LIFETIME = 3600.0
BASE_ACCESS_TOKEN_LIFETIME = 3600.0
# "30日程度" [base-api.md §2]. Counted from when each refresh token was issued (our assumption:
# BASE does not say whether a refresh restarts the clock; with rotation a refresh issues a new token).
BASE_REFRESH_TOKEN_LIFETIME = 30 * 86400.0
# Not documented; a 3rd-party plan says about 1 h (UNCONFIRMED). The simulator's choice.
BASE_CODE_LIFETIME = 3600.0
# BASE's scopes [base-api.md §2]; read_users is always granted.
BASE_SCOPES = frozenset(
    {
        "read_users",
        "read_users_mail",
        "read_items",
        "read_orders",
        "read_savings",
        "write_items",
        "write_orders",
    }
)
ALWAYS_GRANTED_SCOPE = "read_users"
TOO_SOON_DELAY = timedelta(hours=4)  # OffersAvailableTime = request time + 4 h [I:#5358]


class SandboxError(ValueError):
    """A Python-API or admin call the simulator cannot carry out (bad value, unknown object...)."""


class UnknownObjectError(SandboxError, LookupError):
    """The ASIN, shop or item named does not exist in the simulation (admin API: 404)."""


@dataclass(frozen=True)
class LwaCredentials:
    """The simulated SP-API application's LWA credentials (secrets hidden from repr)."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)


@dataclass(frozen=True)
class ShopCredentials:
    """One BASE shop's app credentials and its *initial* refresh token (secrets hidden from repr)."""

    id: str
    name: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    refresh_token: str = field(repr=False)


@dataclass(frozen=True)
class BaseApp:
    """A BASE application (developers.thebase.in): any shop may authorise it; the token names the shop."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str


@dataclass
class _AccessToken:
    service: str  # "lwa" | "base"
    shop_id: str | None
    expires_vs: float  # virtual seconds since the clock started
    scopes: frozenset[str] = BASE_SCOPES


@dataclass
class _RefreshToken:
    shop_id: str
    issued_vs: float
    client_id: str
    scopes: frozenset[str] = BASE_SCOPES


@dataclass
class _AuthCode:
    shop_id: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    issued_vs: float


def derive_secret(seed: int, label: str, length: int = 32) -> str:
    """A deterministic hex string for ``(seed, label)``: stable credentials for a given seed."""
    return hashlib.sha256(f"ecauto-sandbox|{seed}|{label}".encode()).hexdigest()[:length]


class SandboxState:
    """The world the HTTP handlers and the Python/admin APIs share."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: VirtualClock,
        seed: int = 0,
        faults: Faults | None = None,
        enforce_quotas: bool = True,
        rotate_refresh_tokens: bool = True,
        shared_base_app: bool = False,
        base_redirect_uri: str | None = None,
        base_hour_limit: int = BASE_HOUR_LIMIT,
        base_day_limit: int = BASE_DAY_LIMIT,
        log_limit: int | None = 50_000,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.seed = seed
        self.enforce_quotas = enforce_quotas
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.scenario_name = scenario.name
        scenario = scenario.copy()
        self.products: dict[str, Product] = scenario.products
        self.shop_names: dict[str, str] = {s.id: s.name for s in scenario.shops}
        self.items: dict[str, dict[int, BaseItem]] = {
            s.id: {i.item_id: i for i in s.items} for s in scenario.shops
        }
        self._fill_item_times()
        self.pending_sales: list[Sale] = sorted(scenario.sales, key=lambda sale: sale.after)
        self.list_versions: dict[str, int] = dict.fromkeys(self.items, 0)
        self.list_cache: dict[tuple[str, str], tuple[int, list[BaseItem]]] = {}

        self.lwa = LwaCredentials(
            client_id="amzn1.application-oa2-client." + derive_secret(seed, "lwa-client-id"),
            client_secret="amzn1.oa2-cs.v1." + derive_secret(seed, "lwa-client-secret", 64),
            refresh_token="Atzr|" + derive_secret(seed, "lwa-refresh-token", 64),
        )
        self.lwa_secrets_issued = 1
        self.sp_api_access = True  # False: every SP-API call with a valid token gets 403 Unauthorized
        # One app per shop by default; ``shared_base_app``: one app every shop authorised.
        apps = {
            shop_id: self._base_app(seed, "shared" if shared_base_app else shop_id, base_redirect_uri)
            for shop_id in self.shop_names
        }
        self.base_apps: dict[str, BaseApp] = {app.client_id: app for app in apps.values()}
        self.shop_credentials: dict[str, ShopCredentials] = {
            shop_id: ShopCredentials(
                id=shop_id,
                name=name,
                client_id=apps[shop_id].client_id,
                client_secret=apps[shop_id].client_secret,
                redirect_uri=apps[shop_id].redirect_uri,
                refresh_token=derive_secret(seed, f"base-refresh-token|{shop_id}"),
            )
            for shop_id, name in self.shop_names.items()
        }
        self.access_tokens: dict[str, _AccessToken] = {}
        self.refresh_tokens: dict[str, _RefreshToken] = {
            c.refresh_token: _RefreshToken(shop_id, 0.0, c.client_id)
            for shop_id, c in self.shop_credentials.items()
        }
        self.auth_codes: dict[str, _AuthCode] = {}
        self.buckets: dict[str, TokenBucket] = {
            op: TokenBucket(rate, burst) for op, (rate, burst) in SP_API_USAGE_PLANS.items()
        }
        self.budgets: dict[str, BaseBudget] = {
            shop_id: BaseBudget(hour_limit=base_hour_limit, day_limit=base_day_limit)
            for shop_id in self.items
        }
        self.injector = FaultInjector(faults or Faults(seed=seed))
        self.log: deque[RequestRecord] = deque(maxlen=log_limit)

    # ----------------------------------------------------------------- time
    def _fill_item_times(self) -> None:
        start = int(self.clock.start_at.timestamp())
        for items in self.items.values():
            for n, item in enumerate(items.values()):
                if item.created is None:
                    item.created = start - 40 * 86400 + n * 60
                if item.modified is None:
                    item.modified = start - 7 * 86400 + n * 60

    def now(self) -> datetime:
        return self.clock.now()

    @staticmethod
    def _base_app(seed: int, label: str, redirect_uri: str | None) -> BaseApp:
        return BaseApp(
            client_id=derive_secret(seed, f"base-client-id|{label}"),
            client_secret=derive_secret(seed, f"base-client-secret|{label}"),
            redirect_uri=redirect_uri or f"http://127.0.0.1/base/callback/{label}",
        )

    # --------------------------------------------------------------- tokens
    def issue_access_token(
        self,
        service: str,
        shop_id: str | None,
        lifetime: float,
        arrived: float,
        scopes: frozenset[str] = BASE_SCOPES,
    ) -> tuple[str, int]:
        """A new access token and its ``expires_in`` (real seconds). It dies after exactly that long."""
        expires_in = self.clock.expires_in(lifetime)
        prefix = "Atza|" if service == "lwa" else ""
        token = prefix + secrets.token_urlsafe(48 if service == "lwa" else 24)
        self.access_tokens[token] = _AccessToken(
            service, shop_id, self.clock.virtual_seconds(arrived) + expires_in * self.clock.speed, scopes
        )
        return token, expires_in

    def access_token_entry(self, service: str, token: str | None, arrived: float) -> _AccessToken | None:
        """The live access token presented at real time ``arrived`` (None: unknown or expired)."""
        entry = self.access_tokens.get(token or "")
        if entry is None or entry.service != service:
            return None
        if self.clock.virtual_seconds(arrived) >= entry.expires_vs:
            return None
        return entry

    def access_token_owner(self, service: str, token: str | None, arrived: float) -> tuple[bool, str | None]:
        """``(valid, shop_id)`` for an access token presented at real time ``arrived``."""
        entry = self.access_tokens.get(token or "")
        if entry is None or entry.service != service:
            return False, None
        return self.access_token_entry(service, token, arrived) is not None, entry.shop_id

    def issue_base_refresh_token(
        self, shop_id: str, client_id: str, scopes: frozenset[str], arrived: float | None = None
    ) -> str:
        """A new refresh token for ``shop_id`` through the app ``client_id``, issued now."""
        token = secrets.token_hex(16)
        self.refresh_tokens[token] = _RefreshToken(
            shop_id, self.clock.virtual_seconds(arrived), client_id, scopes
        )
        return token

    def rotate_base_refresh_token(self, old: str, arrived: float) -> str:
        """The refresh token to hand back after a successful refresh (a new one when rotating)."""
        entry = self.refresh_tokens[old]
        if not self.rotate_refresh_tokens:
            return old
        del self.refresh_tokens[old]
        return self.issue_base_refresh_token(entry.shop_id, entry.client_id, entry.scopes, arrived)

    def expire_refresh_tokens(self, shop_id: str) -> int:
        """Every refresh token of ``shop_id`` lapses now, as after 30 days; returns how many."""
        with self.lock:
            self._shop(shop_id)
            lapsed = self.clock.virtual_seconds() - BASE_REFRESH_TOKEN_LIFETIME
            mine = [e for e in self.refresh_tokens.values() if e.shop_id == shop_id]
            for entry in mine:
                entry.issued_vs = min(entry.issued_vs, lapsed)
            return len(mine)

    def authorize(
        self,
        shop_id: str,
        client_id: str,
        redirect_uri: str,
        scopes: frozenset[str],
        arrived: float | None = None,
    ) -> str:
        """The shop owner allowed the app: a single-use authorization code (lives BASE_CODE_LIFETIME)."""
        with self.lock:
            self._shop(shop_id)
            if client_id not in self.base_apps:
                raise SandboxError(f"unknown BASE client_id {client_id!r}")
            code = secrets.token_hex(20)
            self.auth_codes[code] = _AuthCode(
                shop_id,
                client_id,
                redirect_uri,
                scopes | {ALWAYS_GRANTED_SCOPE},
                self.clock.virtual_seconds(arrived),
            )
            return code

    def rotate_lwa_secret(self) -> None:
        """Seller Central's credential rotation: a new LWA client secret; the old one is refused."""
        with self.lock:
            self.lwa_secrets_issued += 1
            label = f"lwa-client-secret|{self.lwa_secrets_issued}"
            self.lwa = replace(
                self.lwa, client_secret="amzn1.oa2-cs.v1." + derive_secret(self.seed, label, 64)
            )

    def current_refresh_token(self, shop_id: str) -> str:
        """The refresh token BASE would accept now for ``shop_id`` (for tests and tooling)."""
        with self.lock:
            self._shop(shop_id)
            live = [t for t, e in self.refresh_tokens.items() if e.shop_id == shop_id]
            return live[-1]

    def expire_tokens(self) -> int:
        """Every LWA and BASE access token issued so far stops working; returns how many."""
        with self.lock:
            count = len(self.access_tokens)
            self.access_tokens.clear()
            return count

    # ------------------------------------------------------------- products
    def _product(self, asin: str) -> Product:
        product = self.products.get(asin)
        if product is None:
            raise UnknownObjectError(f"unknown ASIN {asin!r}")
        return product

    def product(self, asin: str) -> Product | None:
        """A copy of the simulated product (offers etc.), or None when Amazon does not know it."""
        with self.lock:
            product = self.products.get(asin)
            return copy.deepcopy(product) if product else None

    def set_price(self, asin: str, listing_yen: int, shipping_yen: int | None = None) -> Offer:
        """Move the chosen offer (cheapest new offer shipping within 72 h; else the cheapest new one).

        Other in-time new offers that would now be as cheap or cheaper are moved just above it, so
        the moved offer stays the one a correct client chooses. On a sold-out product the stashed
        offers are changed (a restock brings them back at the new price).
        """
        _check_yen(listing_yen, "listing_yen")
        if shipping_yen is not None:
            _check_yen(shipping_yen, "shipping_yen", minimum=0)
        with self.lock:
            product = self._product(asin)
            offers = product.offers or product.stashed_offers
            holder = Product(asin, product.title, product.brand, offers=offers)
            target = holder.chosen_offer() or min(
                holder.new_offers(), key=lambda o: o.total_yen, default=None
            )
            if target is None:
                raise SandboxError(f"{asin} has no new offer to reprice")
            target.listing_yen = listing_yen
            if shipping_yen is not None:
                target.shipping_yen = shipping_yen
            bump = 10
            for offer in holder.new_offers():
                in_time = offer.ships_within(DEFAULT_MAX_DELIVERY_HOURS)
                if offer is not target and in_time and offer.total_yen <= target.total_yen:
                    offer.listing_yen = target.total_yen - offer.shipping_yen + bump
                    bump += 10
            return copy.deepcopy(target)

    def sell_out(self, asin: str) -> None:
        """No buyable offers any more (``NoBuyableOffers``); offers are kept aside for a restock."""
        with self.lock:
            product = self._product(asin)
            if product.offers:
                product.stashed_offers = product.offers
                product.offers = []
            product.status = None

    def restock(self, asin: str, listing_yen: int | None = None) -> None:
        """Offers come back (those a sell-out kept, else one FBA offer at ``listing_yen``)."""
        with self.lock:
            product = self._product(asin)
            if not product.offers:
                if product.stashed_offers:
                    product.offers, product.stashed_offers = product.stashed_offers, []
                elif listing_yen is not None:
                    product.offers = [
                        Offer("AN1VRQENFRJN5", listing_yen, fba=True, prime=True, min_hours=0, max_hours=24)
                    ]
                else:
                    raise SandboxError(f"{asin} has no offers to restore: give listing_yen")
            if product.status == TOO_SOON:
                product.status = None
            if listing_yen is not None:
                self.set_price(asin, listing_yen)

    def set_status(self, asin: str, status: str | None, available_at: datetime | None = None) -> None:
        """Force the payload status: ``ActiveButTooSoonForProcessing`` (until ``available_at`` when
        given, else until changed), ``NoBuyableOffers`` (a sell-out) or ``Success``/None (derived)."""
        if status is not None and status not in PRODUCT_STATUSES:
            raise SandboxError(f"status must be one of {', '.join(PRODUCT_STATUSES)}, got {status!r}")
        with self.lock:
            product = self._product(asin)
            if status == NO_BUYABLE_OFFERS:
                self.sell_out(asin)
            elif status == TOO_SOON:
                product.status = TOO_SOON
                product.offers_available_at = available_at
            elif status in (SUCCESS, None):
                product.status = None
                product.offers_available_at = None

    def set_item_error(self, asin: str, code: str | None) -> None:
        """Every offers call for ``asin`` answers the per-item error ``code`` (``InvalidInput``: as
        if removed from the catalog; ``InternalFailure``: a 500) until set back to None."""
        if code is not None and code not in ITEM_ERRORS:
            raise SandboxError(f"code must be one of {', '.join(ITEM_ERRORS)} or null, got {code!r}")
        with self.lock:
            self._product(asin).item_error = code

    # ----------------------------------------------------------------- BASE
    def _shop(self, shop_id: str) -> dict[int, BaseItem]:
        items = self.items.get(shop_id)
        if items is None:
            raise UnknownObjectError(f"unknown shop {shop_id!r} (known: {', '.join(self.items)})")
        return items

    def live_item(self, shop_id: str, item_id: int) -> BaseItem | None:
        item = self._shop(shop_id).get(item_id)
        return item if item is not None and not item.deleted else None

    def touch_shop(self, shop_id: str) -> None:
        """Invalidate the shop's cached list orders (after any change to its items)."""
        self.list_versions[shop_id] += 1

    def sorted_items(self, shop_id: str, order: str) -> list[BaseItem]:
        """Live items ordered by ``list_order`` / ``created`` / ``modified`` (ascending; ties by item_id)."""
        self._shop(shop_id)
        version = self.list_versions[shop_id]
        cached = self.list_cache.get((shop_id, order))
        if cached and cached[0] == version:
            return cached[1]
        live = [i for i in self._shop(shop_id).values() if not i.deleted]
        live.sort(key=lambda i: (getattr(i, order), i.item_id))
        self.list_cache[(shop_id, order)] = (version, live)
        return live

    def delete_item(self, shop_id: str, item_id: int) -> None:
        """The seller deleted the item in BASE's admin: edits now answer ``bad_item_id``."""
        with self.lock:
            item = self._shop(shop_id).get(item_id)
            if item is None or item.deleted:
                raise UnknownObjectError(f"shop {shop_id} has no item {item_id}")
            item.deleted = True
            self.touch_shop(shop_id)

    def sell(
        self, shop_id: str, item_id: int, quantity: int = 1, variation_id: int | None = None
    ) -> BaseItem:
        """An order on BASE: the item's (or the variation's) stock goes down by ``quantity``.

        Like a real order it never takes stock below 0 (a sold-out item cannot be bought): that is
        a SandboxError. An item with variations must be sold by variation. ``modified`` is left
        alone (whether an order touches it is UNCONFIRMED).
        """
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise SandboxError(f"quantity must be a whole number >= 1, got {quantity!r}")
        with self.lock:
            item = self.live_item(shop_id, item_id)
            if item is None:
                raise UnknownObjectError(f"shop {shop_id} has no item {item_id}")
            if item.variations and variation_id is None:
                raise SandboxError(f"item {item_id} has variations: give variation_id")
            if variation_id is not None:
                found = self.variation(item, variation_id)
                if found["variation_stock"] < quantity:
                    raise SandboxError(
                        f"variation {variation_id} of item {item_id} has only {found['variation_stock']}"
                    )
                found["variation_stock"] -= quantity
                item.stock = sum(int(v["variation_stock"]) for v in item.variations)
            else:
                if item.stock < quantity:
                    raise SandboxError(f"item {item_id} has only {item.stock} in stock")
                item.stock -= quantity
            self.touch_shop(shop_id)
            return item

    @staticmethod
    def variation(item: BaseItem, variation_id: int) -> dict:
        for found in item.variations:
            if found["variation_id"] == variation_id:
                return found
        raise UnknownObjectError(f"item {item.item_id} has no variation {variation_id}")

    def run_due_sales(self, now: datetime) -> int:
        """Apply the scenario's sales whose time has come; returns how many (a sale of an item
        already sold out, or deleted, is dropped: nobody can buy it)."""
        done = 0
        if not self.pending_sales:  # the usual case: no lock taken on every request
            return done
        with self.lock:
            while self.pending_sales and self.clock.start_at + self.pending_sales[0].after <= now:
                sale = self.pending_sales.pop(0)
                try:
                    self.sell(sale.shop_id, sale.item_id, sale.quantity, sale.variation_id)
                    done += 1
                except SandboxError:
                    continue
        return done

    def exhaust_base_hour(self, shop_id: str) -> None:
        """The shop's next calls get ``hour_api_limit`` until the next virtual clock hour."""
        with self.lock:
            self._shop(shop_id)
            self.budgets[shop_id].exhaust_hour(self.clock.now())

    def exhaust_base_day(self, shop_id: str) -> None:
        """The shop's next calls get ``day_api_limit`` until the next virtual JST date."""
        with self.lock:
            self._shop(shop_id)
            self.budgets[shop_id].exhaust_day(self.clock.now())

    def base_budget(self, shop_id: str) -> dict[str, int]:
        """Calls left this hour and day for ``shop_id``."""
        with self.lock:
            self._shop(shop_id)
            return self.budgets[shop_id].remaining(self.clock.now())

    # --------------------------------------------------------------- faults
    def set_faults(self, **changes: Any) -> Faults:
        with self.lock:
            return self.injector.update(**changes)

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    # ------------------------------------------------------------------ log
    def record(self, entry: RequestRecord) -> None:
        with self.lock:
            self.log.append(entry)

    def requests(self) -> list[RequestRecord]:
        with self.lock:
            return list(self.log)

    def clear_requests(self) -> None:
        with self.lock:
            self.log.clear()

    def drain_requests(self) -> list[RequestRecord]:
        """The log's entries, oldest first, and an empty log, in one step (none lost between)."""
        with self.lock:
            entries = list(self.log)
            self.log.clear()
            return entries


def _check_yen(value: object, name: str, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SandboxError(f"{name} must be an integer number of yen >= {minimum}, got {value!r}")
