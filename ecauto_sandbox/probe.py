"""A raw HTTP probe for a running sandbox: one call per method, answers returned as they come.

For contract tests, demos and poking at the simulator by hand. It deliberately does no parsing,
pacing or retrying (that is the job of ``ecauto_lib.amazon`` / ``ecauto_lib.base``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from ecauto_sandbox.scenario import MARKETPLACE_ID

TIMEOUT = (2.0, 10.0)


def batch_body(asins: Iterable[str], condition: str = "New") -> dict[str, Any]:
    """A getItemOffersBatch body with the parameters at the top level of each request."""
    return {
        "requests": [
            {
                "uri": f"/products/pricing/v0/items/{asin}/offers",
                "method": "GET",
                "MarketplaceId": MARKETPLACE_ID,
                "ItemCondition": condition,
                "CustomerType": "Consumer",
            }
            for asin in asins
        ]
    }


class SandboxProbe:
    """Raw calls against ``sb`` (any object with ``url``, ``lwa_credentials`` and ``shops``)."""

    def __init__(self, sb: Any, session: requests.Session | None = None) -> None:
        self.sb = sb
        self.session = session or requests.Session()
        self.lwa_access_token: str | None = None
        self.base_tokens: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ LWA
    def lwa_token(self, **overrides: str) -> requests.Response:
        creds = self.sb.lwa_credentials
        form = {
            "grant_type": "refresh_token",
            "refresh_token": creds.refresh_token,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            **overrides,
        }
        response = self.session.post(self.sb.lwa_token_url, data=form, timeout=TIMEOUT)
        if response.status_code == 200:
            self.lwa_access_token = response.json()["access_token"]
        return response

    def _sp_headers(self, token: str | None) -> dict[str, str]:
        if token is None:
            if self.lwa_access_token is None:
                self.lwa_token().raise_for_status()
            token = self.lwa_access_token
        return {"x-amz-access-token": token} if token else {}

    def sp_get(
        self, path: str, params: dict[str, Any] | None = None, *, token: str | None = None
    ) -> requests.Response:
        return self.session.get(
            self.sb.url + path, params=params, headers=self._sp_headers(token), timeout=TIMEOUT
        )

    def sp_post(self, path: str, body: Any, *, token: str | None = None) -> requests.Response:
        return self.session.post(
            self.sb.url + path, json=body, headers=self._sp_headers(token), timeout=TIMEOUT
        )

    def item_offers_batch(self, asins: Iterable[str], *, token: str | None = None) -> requests.Response:
        return self.sp_post("/batches/products/pricing/v0/itemOffers", batch_body(asins), token=token)

    def item_offers(
        self, asin: str, condition: str = "New", *, token: str | None = None
    ) -> requests.Response:
        params = {"MarketplaceId": MARKETPLACE_ID, "ItemCondition": condition}
        return self.sp_get(f"/products/pricing/v0/items/{asin}/offers", params, token=token)

    def competitive_pricing(self, asins: Iterable[str], item_type: str = "Asin") -> requests.Response:
        params = {"MarketplaceId": MARKETPLACE_ID, "ItemType": item_type, "Asins": ",".join(asins)}
        return self.sp_get("/products/pricing/v0/competitivePrice", params)

    def search_catalog(
        self, asins: Iterable[str], page_size: int | None = 20, **extra: Any
    ) -> requests.Response:
        params: dict[str, Any] = {
            "identifiers": ",".join(asins),
            "identifiersType": "ASIN",
            "marketplaceIds": MARKETPLACE_ID,
            "includedData": "summaries,images",
            **extra,
        }
        if page_size is not None:
            params["pageSize"] = page_size
        return self.sp_get("/catalog/2022-04-01/items", params)

    def catalog_item(self, asin: str, included: str = "summaries,images") -> requests.Response:
        params = {"marketplaceIds": MARKETPLACE_ID, "includedData": included}
        return self.sp_get(f"/catalog/2022-04-01/items/{asin}", params)

    # ----------------------------------------------------------------- BASE
    def shop(self, shop_id: str) -> Any:
        return next(s for s in self.sb.shops if s.id == shop_id)

    def base_token(
        self, shop_id: str, refresh_token: str | None = None, **overrides: str
    ) -> requests.Response:
        shop = self.shop(shop_id)
        known = self.base_tokens.get(shop_id, {})
        form = {
            "grant_type": "refresh_token",
            "client_id": shop.client_id,
            "client_secret": shop.client_secret,
            "refresh_token": refresh_token or known.get("refresh_token") or shop.refresh_token,
            "redirect_uri": shop.redirect_uri,
            **overrides,
        }
        response = self.session.post(self.sb.base_token_url, data=form, timeout=TIMEOUT)
        if response.status_code == 200:
            self.base_tokens[shop_id] = response.json()
        return response

    def _base_headers(self, shop_id: str, token: str | None) -> dict[str, str]:
        if token is None:
            if shop_id not in self.base_tokens:
                self.base_token(shop_id).raise_for_status()
            token = self.base_tokens[shop_id]["access_token"]
        return {"Authorization": f"Bearer {token}"}

    def base_get(
        self, shop_id: str, path: str, params: dict[str, Any] | None = None, *, token: str | None = None
    ):
        return self.session.get(
            self.sb.url + path, params=params, headers=self._base_headers(shop_id, token), timeout=TIMEOUT
        )

    def base_post(self, shop_id: str, path: str, form: dict[str, Any], *, token: str | None = None):
        return self.session.post(
            self.sb.url + path, data=form, headers=self._base_headers(shop_id, token), timeout=TIMEOUT
        )

    def items(self, shop_id: str, *, token: str | None = None, **params: Any) -> requests.Response:
        return self.base_get(shop_id, "/1/items", params, token=token)

    def item_detail(self, shop_id: str, item_id: int, *, token: str | None = None) -> requests.Response:
        return self.base_get(shop_id, f"/1/items/detail/{item_id}", token=token)

    def edit_item(
        self, shop_id: str, item_id: int, *, token: str | None = None, **fields: Any
    ) -> requests.Response:
        return self.base_post(shop_id, "/1/items/edit", {"item_id": item_id, **fields}, token=token)

    # ---------------------------------------------------------------- admin
    def admin_get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.sb.url + "/_sandbox" + path, params=params, timeout=TIMEOUT)

    def admin_post(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        return self.session.post(self.sb.url + "/_sandbox" + path, json=body or {}, timeout=TIMEOUT)
