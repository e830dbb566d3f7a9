"""The :class:`Sandbox`: a simulated SP-API + LWA + BASE marketplace on 127.0.0.1.

``with Sandbox(Scenario.demo(), speed=100) as sb:`` starts the server thread and stops it on exit.
The object is also the Python control panel: move prices, sell out, expire tokens, inject faults,
read the request log. See docs/sandbox.md.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from ecauto_sandbox import admin
from ecauto_sandbox.amazon import lwa
from ecauto_sandbox.amazon import routes as sp_api
from ecauto_sandbox.base import routes as base_api
from ecauto_sandbox.base.items import item_json
from ecauto_sandbox.clock import VirtualClock
from ecauto_sandbox.faults import Faults
from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.quotas import BASE_DAY_LIMIT, BASE_HOUR_LIMIT, SP_API_USAGE_PLANS
from ecauto_sandbox.records import RequestRecord, operation_stats, redact
from ecauto_sandbox.scenario import MARKETPLACE_ID, Offer, Product, Scenario
from ecauto_sandbox.server import SandboxHTTPServer
from ecauto_sandbox.state import LwaCredentials, SandboxState, ShopCredentials

_REDACTED_RESPONSES = frozenset({"lwaToken", "baseToken", "env", "accounts", "authorize"})


class Sandbox:
    """A running simulated marketplace (SP-API, LWA and BASE on one loopback port).

    ``speed`` multiplies the virtual clock (quotas, token lifetimes, BASE budgets all follow it);
    ``seed`` fixes credentials and, unless ``faults`` says otherwise, the fault draws;
    ``enforce_quotas=False`` switches the SP-API token buckets off; ``rotate_refresh_tokens=False``
    makes BASE hand back the same refresh token; ``shared_base_app=True`` gives every shop the same
    BASE app (one client_id authorised by several shops); ``base_redirect_uri`` registers that
    callback for every app (e.g. a loopback ``http://127.0.0.1:PORT/callback``); ``start_at`` (aware) anchors the virtual clock
    (default: now, UTC). ``base_hour_limit`` / ``base_day_limit`` override BASE's budgets and
    ``log_limit`` caps the request log (oldest entries dropped). ``clock`` replaces the virtual
    clock (tests drive a fake monotonic time through it; it brings its own speed).
    """

    def __init__(
        self,
        scenario: Scenario,
        speed: float = 1.0,
        seed: int = 0,
        faults: Faults | None = None,
        port: int = 0,
        enforce_quotas: bool = True,
        rotate_refresh_tokens: bool = True,
        start_at: datetime | None = None,
        *,
        shared_base_app: bool = False,
        base_redirect_uri: str | None = None,
        base_hour_limit: int = BASE_HOUR_LIMIT,
        base_day_limit: int = BASE_DAY_LIMIT,
        log_limit: int | None = 50_000,
        clock: VirtualClock | None = None,
    ) -> None:
        if clock is not None and (float(speed) not in (1.0, clock.speed) or start_at is not None):
            raise ValueError("give either clock or speed/start_at, not both")
        self._clock = clock or VirtualClock(speed, start_at)
        self._state = SandboxState(
            scenario,
            clock=self._clock,
            seed=seed,
            faults=faults if faults is not None else Faults(seed=seed),
            enforce_quotas=enforce_quotas,
            rotate_refresh_tokens=rotate_refresh_tokens,
            shared_base_app=shared_base_app,
            base_redirect_uri=base_redirect_uri,
            base_hour_limit=base_hour_limit,
            base_day_limit=base_day_limit,
            log_limit=log_limit,
        )
        self._port = port
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        """Bind 127.0.0.1:``port`` (0 = any free port) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._server = SandboxHTTPServer(
            self._port, self._dispatch, self._record, self._clock.now, monotonic=self._clock.monotonic
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ecauto-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server else "stopped"
        return f"Sandbox({self._state.scenario_name}, speed={self.speed}, {where})"

    # ----------------------------------------------------------- addresses
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: SP-API endpoint and BASE API URL alike."""
        if self._server is None:
            raise RuntimeError("sandbox not started: use `with Sandbox(...) as sb` or sb.start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def sp_api_endpoint(self) -> str:
        return self.url

    @property
    def base_api_url(self) -> str:
        return self.url

    @property
    def lwa_token_url(self) -> str:
        return self.url + lwa.LWA_TOKEN_PATH

    @property
    def base_token_url(self) -> str:
        return self.url + "/1/oauth/token"

    @property
    def speed(self) -> float:
        return self._clock.speed

    @property
    def marketplace_id(self) -> str:
        return MARKETPLACE_ID

    # --------------------------------------------------------- credentials
    @property
    def lwa_credentials(self) -> LwaCredentials:
        return self._state.lwa

    @property
    def shops(self) -> list[ShopCredentials]:
        """Every shop's app credentials with its *initial* refresh token."""
        return list(self._state.shop_credentials.values())

    def current_refresh_token(self, shop_id: str) -> str:
        """The refresh token BASE accepts now for ``shop_id`` (changes with every rotation)."""
        return self._state.current_refresh_token(shop_id)

    def env(self) -> dict[str, str]:
        """Environment variables that point the pipeline at this sandbox."""
        lwa = self.lwa_credentials
        return {
            "SP_API_ENDPOINT": self.sp_api_endpoint,
            "LWA_TOKEN_URL": self.lwa_token_url,
            "LWA_APP_ID": lwa.client_id,
            "LWA_CLIENT_SECRET": lwa.client_secret,
            "SP_API_REFRESH_TOKEN": lwa.refresh_token,
            "SP_API_MARKETPLACE_ID": MARKETPLACE_ID,
            "BASE_API_URL": self.base_api_url,
        }

    def accounts_config(self) -> dict[str, Any]:
        """The accounts-file document (``{"accounts": [...]}``) with the initial refresh tokens."""
        return {
            "accounts": [
                {
                    "id": s.id,
                    "name": s.name,
                    "client_id": s.client_id,
                    "client_secret": s.client_secret,
                    "redirect_uri": s.redirect_uri,
                    "refresh_token": s.refresh_token,
                }
                for s in self.shops
            ]
        }

    # ---------------------------------------------------------------- world
    def now(self) -> datetime:
        """The virtual clock (UTC-aware)."""
        return self._clock.now()

    def product(self, asin: str) -> Product | None:
        """A copy of the simulated product (offers, status...), None when Amazon does not know it."""
        return self._state.product(asin)

    def set_price(self, asin: str, listing_yen: int, shipping_yen: int | None = None) -> Offer:
        """Move the chosen (cheapest in-time new) offer's price; returns the moved offer."""
        return self._state.set_price(asin, listing_yen, shipping_yen)

    def sell_out(self, asin: str) -> None:
        self._state.sell_out(asin)

    def restock(self, asin: str, listing_yen: int | None = None) -> None:
        self._state.restock(asin, listing_yen)

    def set_status(self, asin: str, status: str | None, available_at: datetime | None = None) -> None:
        self._state.set_status(asin, status, available_at)

    def sell(
        self, shop_id: str, item_id: int, quantity: int = 1, variation_id: int | None = None
    ) -> dict[str, Any]:
        """An order on BASE: stock (or a variation's) goes down by ``quantity``; returns the item."""
        with self._state.lock:
            return item_json(self._state.sell(shop_id, item_id, quantity, variation_id))

    def set_item_error(self, asin: str, code: str | None) -> None:
        """Every offers call for ``asin`` answers the per-item error ``code`` (None: answers again)."""
        self._state.set_item_error(asin, code)

    def items(self, shop_id: str) -> list[dict[str, Any]]:
        """The shop's live items as BASE's item JSON (detail shape), in ``list_order``."""
        self._state.run_due_sales(self.now())
        with self._state.lock:
            return [item_json(i) for i in self._state.sorted_items(shop_id, "list_order")]

    def item(self, shop_id: str, item_id: int) -> dict[str, Any] | None:
        """One live item as BASE's item JSON, or None (unknown or deleted)."""
        self._state.run_due_sales(self.now())
        with self._state.lock:
            found = self._state.live_item(shop_id, item_id)
            return item_json(found) if found else None

    def delete_item(self, shop_id: str, item_id: int) -> None:
        self._state.delete_item(shop_id, item_id)

    def expire_tokens(self) -> int:
        """Every LWA and BASE access token issued so far stops working; returns how many there were."""
        return self._state.expire_tokens()

    def expire_refresh_tokens(self, shop_id: str) -> int:
        """Every BASE refresh token of ``shop_id`` lapses now (as 30 days without use would)."""
        return self._state.expire_refresh_tokens(shop_id)

    def authorize(
        self,
        shop_id: str,
        *,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        scope: str = "read_items write_items",
    ) -> str:
        """What the consent page does when the shop owner allows the app: a single-use code.

        ``client_id`` / ``redirect_uri`` default to the shop's own app (as in ``shops``).
        """
        shop = self._state.shop_credentials.get(shop_id)  # None: state.authorize names the unknown shop
        return self._state.authorize(
            shop_id,
            client_id or (shop.client_id if shop else ""),
            redirect_uri or (shop.redirect_uri if shop else ""),
            frozenset(scope.split()),
        )

    def set_sp_api_access(self, allowed: bool) -> None:
        """``False``: every SP-API call with a valid LWA token gets 403 Unauthorized, as when the app
        lacks the operation's role or the seller withdrew the authorisation."""
        with self._state.lock:
            self._state.sp_api_access = bool(allowed)

    def rotate_lwa_secret(self) -> None:
        """Seller Central's LWA credential rotation: ``lwa_credentials`` and ``env()`` get a new
        client secret; the old one is answered ``invalid_client``."""
        self._state.rotate_lwa_secret()

    def exhaust_base_hour(self, shop_id: str) -> None:
        self._state.exhaust_base_hour(shop_id)

    def exhaust_base_day(self, shop_id: str) -> None:
        """The shop's next calls get ``day_api_limit`` until the next virtual JST date."""
        self._state.exhaust_base_day(shop_id)

    def base_budget(self, shop_id: str) -> dict[str, int]:
        """BASE calls ``shop_id`` has left this virtual hour and day."""
        return self._state.base_budget(shop_id)

    # --------------------------------------------------------------- faults
    @property
    def faults(self) -> Faults:
        return self._state.faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change fault settings at run time (``sb.set_faults(sp_429_rate=0.2, storm_429=5)``)."""
        return self._state.set_faults(**changes)

    # ------------------------------------------------------------------ log
    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        return self._state.requests()

    def clear_requests(self) -> None:
        self._state.clear_requests()

    def drain_requests(self) -> list[RequestRecord]:
        """The request log so far, oldest first, emptying it (a long run reads it in pieces)."""
        return self._state.drain_requests()

    def stats(self, window: int = 10) -> dict[str, dict[str, Any]]:
        """Per operation: calls, statuses, 429s, faults, max rate over any ``window`` calls."""
        return operation_stats(self._state.requests(), window=window, speed=self.speed)

    def describe(self) -> dict[str, Any]:
        """A summary of the running world (for the admin ``/state`` route and the CLI)."""
        state = self._state
        with state.lock:
            return {
                "scenario": state.scenario_name,
                "speed": self.speed,
                "now": self.now().isoformat(),
                "enforce_quotas": state.enforce_quotas,
                "rotate_refresh_tokens": state.rotate_refresh_tokens,
                "base_apps": len(state.base_apps),
                "sp_api_access": state.sp_api_access,
                "products": len(state.products),
                "quotas": {op: {"rate": r, "burst": b} for op, (r, b) in SP_API_USAGE_PLANS.items()},
                "shops": [
                    {
                        "id": shop_id,
                        "name": state.shop_names[shop_id],
                        "items": sum(1 for i in items.values() if not i.deleted),
                        "budget": state.budgets[shop_id].remaining(self.now()),
                    }
                    for shop_id, items in state.items.items()
                ],
                "faults": state.faults.to_json(),
                "storm_left": state.injector.storm_left,
                "requests_logged": len(state.log),
            }

    @property
    def state(self) -> SandboxState:
        """The underlying state (for tooling; hold ``state.lock`` while touching it)."""
        return self._state

    # ------------------------------------------------------------- serving
    def _dispatch(self, req: Request) -> Reply:
        self._state.run_due_sales(self._clock.now(req.arrived))  # the scenario's orders, when due
        path = req.path
        if path == lwa.LWA_TOKEN_PATH:
            return lwa.lwa_token(self._state, req)
        if path.startswith(base_api.PREFIX):
            found_base = base_api.route(req.method, path)
            if found_base is None:
                return base_api.not_found()
            return base_api.call(self._state, req, found_base)
        if path == admin.PREFIX or path.startswith(admin.PREFIX + "/"):
            return admin.handle(self, req)
        found = sp_api.route(req.method, path)
        if found is None:
            return sp_api.not_found(req)
        return sp_api.sp_api_call(self._state, req, found)

    def _record(self, req: Request, reply: Reply, duration: float) -> None:
        if reply.service == "admin" and req.method == "GET":
            return  # reads of the admin API are not logged (they would flood the log they read)
        body: Any = None
        if req.body:
            try:
                body = req.json()
            except ValueError:
                body = req.form()
        response = reply.payload if reply.raw is None else None
        if reply.operation in _REDACTED_RESPONSES:
            response = redact(response)
        self._state.record(
            RequestRecord(
                t=req.arrived,
                vt=self._clock.now(req.arrived),
                service=reply.service,
                operation=reply.operation,
                method=req.method,
                path=req.path,
                query=req.flat_query(),
                body=redact(body),
                status=reply.status,
                error_code=reply.error_code,
                shop_id=reply.shop_id,
                asins=reply.asins,
                fault="+".join(reply.faults) or None,
                response=response,
                request_id=reply.request_id,
                duration=duration,
            )
        )
