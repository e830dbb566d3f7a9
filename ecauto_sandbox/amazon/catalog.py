"""Catalog Items 2022-04-01: searchCatalogItems (by identifiers) and getCatalogItem."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from ecauto_sandbox.amazon.errors import MSG_BAD_MARKETPLACE, BadRequest, errors
from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.scenario import MARKETPLACE_ID, Product
from ecauto_sandbox.state import SandboxState

CATALOG_PAGE_SIZE_DEFAULT = 10
CATALOG_PAGE_SIZE_MAX = 20
CATALOG_INCLUDED_DATA = (
    "attributes",
    "classifications",
    "dimensions",
    "identifiers",
    "images",
    "productTypes",
    "relationships",
    "salesRanks",
    "summaries",
    "vendorDetails",
)


# ------------------------------------------------------------------ catalog
def image_link(image_id: str, size: int) -> str:
    suffix = "" if size >= 1500 else f"._AC_SL{size}_"
    return f"https://m.media-amazon.com/images/I/{image_id}{suffix}.jpg"


def catalog_item(product: Product, included: list[str]) -> dict[str, Any]:
    """An ``Item`` with the requested ``includedData`` sets (JP marketplace only)."""
    mp = MARKETPLACE_ID
    item: dict[str, Any] = {"asin": product.asin}
    for data in included:
        if data == "summaries":
            summary: dict[str, Any] = {
                "marketplaceId": mp,
                "adultProduct": False,
                "autographed": False,
                "brand": product.brand,
                "browseClassification": {
                    "displayName": product.category,
                    "classificationId": product.classification_id,
                },
                "itemClassification": "BASE_PRODUCT",
                "itemName": product.title,
                "memorabilia": False,
                "packageQuantity": 1,
                "tradeInEligible": False,
                "websiteDisplayGroup": product.display_group,
                "websiteDisplayGroupName": product.display_group_name,
            }
            if product.manufacturer:
                summary["manufacturer"] = product.manufacturer
            if product.model_number:
                summary["modelNumber"] = product.model_number
                summary["partNumber"] = product.model_number
            item["summaries"] = [summary]
        elif data == "images":
            images = []
            for n, image_id in enumerate(product.image_ids):
                variant = "MAIN" if n == 0 else f"PT{n:02d}"
                images.append(
                    {"variant": variant, "link": image_link(image_id, 1500), "height": 1500, "width": 1500}
                )
                images.append(
                    {"variant": variant, "link": image_link(image_id, 500), "height": 500, "width": 500}
                )
            item["images"] = [{"marketplaceId": mp, "images": images}]
        elif data == "identifiers":
            ids = [{"identifierType": "EAN", "identifier": product.jan}] if product.jan else []
            item["identifiers"] = [{"marketplaceId": mp, "identifiers": ids}]
        elif data == "salesRanks":
            item["salesRanks"] = [
                {
                    "marketplaceId": mp,
                    "classificationRanks": [
                        {
                            "classificationId": product.classification_id,
                            "title": product.category,
                            "rank": max(1, product.sales_rank // 20),
                        }
                    ],
                    "displayGroupRanks": [
                        {
                            "websiteDisplayGroup": product.display_group,
                            "title": product.display_group_name,
                            "rank": product.sales_rank,
                        }
                    ],
                }
            ]
        elif data == "classifications":
            item["classifications"] = [
                {
                    "marketplaceId": mp,
                    "classifications": [
                        {"displayName": product.category, "classificationId": product.classification_id}
                    ],
                }
            ]
        elif data == "productTypes":
            item["productTypes"] = [{"marketplaceId": mp, "productType": "HOME"}]
        elif data == "attributes":
            lang = {"language_tag": "ja_JP", "marketplace_id": mp}
            item["attributes"] = {
                "item_name": [{"value": product.title, **lang}],
                "brand": [{"value": product.brand, **lang}],
            }
        elif data == "relationships":
            item["relationships"] = [{"marketplaceId": mp, "relationships": []}]
        elif data == "dimensions":
            item["dimensions"] = [{"marketplaceId": mp}]
        # vendorDetails: vendors only; a seller's call gets nothing for it.
    return item


def _included_data(req: Request) -> list[str]:
    included = req.csv_param("includedData") or ["summaries"]
    unknown = [d for d in included if d not in CATALOG_INCLUDED_DATA]
    if unknown:
        raise BadRequest(400, "InvalidInput", f"Invalid includedData value(s): {', '.join(unknown)}")
    return list(dict.fromkeys(included))


def _catalog_marketplace(req: Request) -> None:
    marketplaces = req.csv_param("marketplaceIds")
    if not marketplaces:
        # The static sandbox answers code "400" here; production's code is UNCONFIRMED.
        raise BadRequest(
            400, "InvalidInput", "Request has missing or invalid parameters and cannot be parsed."
        )
    if len(marketplaces) > 1 or marketplaces[0] != MARKETPLACE_ID:
        raise BadRequest(400, "InvalidInput", MSG_BAD_MARKETPLACE)


def _page_token(identifiers: list[str], offset: int) -> str:
    digest = hashlib.sha256(",".join(identifiers).encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(f"{offset}:{digest}".encode()).decode().rstrip("=")


def _page_offset(token: str, identifiers: list[str]) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset_text, digest = raw.split(":", 1)
        offset = int(offset_text)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, "InvalidInput", "Invalid pageToken.") from None
    if _page_token(identifiers, offset) != token:
        raise BadRequest(400, "InvalidInput", "Invalid pageToken.")
    return offset


def search_catalog_items(state: SandboxState, req: Request, now: datetime, request_id: str) -> Reply:
    """``GET /catalog/2022-04-01/items`` by ``identifiers`` (keyword search is not simulated)."""
    _catalog_marketplace(req)
    identifiers = req.csv_param("identifiers")
    if not identifiers:
        raise BadRequest(400, "InvalidInput", "The simulator supports searches by identifiers only.")
    if len(identifiers) > 20:
        raise BadRequest(400, "InvalidInput", "identifiers must contain at most 20 values.")
    if req.param("identifiersType") != "ASIN":
        # JAN/EAN/SKU lookups are not simulated.
        raise BadRequest(400, "InvalidInput", "identifiersType must be ASIN in the simulator.")
    if any(req.param(p) for p in ("keywords", "brandNames", "classificationIds", "keywordsLocale")):
        raise BadRequest(
            400,
            "InvalidInput",
            "identifiers cannot be combined with keywords, brandNames or classificationIds.",
        )
    included = _included_data(req)
    page_size_text = req.param("pageSize")
    try:
        page_size = int(page_size_text) if page_size_text is not None else CATALOG_PAGE_SIZE_DEFAULT
    except ValueError:
        raise BadRequest(400, "InvalidInput", f"Invalid pageSize: {page_size_text!r}") from None
    if not 1 <= page_size <= CATALOG_PAGE_SIZE_MAX:
        raise BadRequest(400, "InvalidInput", f"pageSize must be between 1 and {CATALOG_PAGE_SIZE_MAX}.")
    token = req.param("pageToken")
    offset = _page_offset(token, identifiers) if token else 0
    found = [state.products[a] for a in dict.fromkeys(identifiers) if a in state.products]
    page = found[offset : offset + page_size]
    pagination: dict[str, str] = {}
    if offset + page_size < len(found):
        pagination["nextToken"] = _page_token(identifiers, offset + page_size)
    if offset > 0:
        pagination["previousToken"] = _page_token(identifiers, max(0, offset - page_size))
    payload: dict[str, Any] = {"numberOfResults": len(found)}
    if pagination:
        payload["pagination"] = pagination
    payload["refinements"] = {"brands": [], "classifications": []}
    payload["items"] = [catalog_item(p, included) for p in page]
    return Reply(200, payload, asins=tuple(identifiers))


def get_catalog_item(state: SandboxState, req: Request, now: datetime, request_id: str) -> Reply:
    """``GET /catalog/2022-04-01/items/{asin}`` (404 when Amazon does not know the ASIN)."""
    asin = req.path.rsplit("/", 1)[-1]
    _catalog_marketplace(req)
    included = _included_data(req)
    product = state.products.get(asin)
    if product is None:
        # Message wording UNCONFIRMED.
        reply = Reply(
            404,
            errors("NotFound", f"Requested item '{asin}' not found in marketplace(s) {MARKETPLACE_ID}."),
            error_code="NotFound",
        )
    else:
        reply = Reply(200, catalog_item(product, included))
    reply.asins = (asin,)
    return reply
