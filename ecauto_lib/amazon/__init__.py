"""Amazon SP-API: LWA token cache, paced client, and response → domain parsing."""

from ecauto_lib.amazon.client import (
    GET_ITEM_OFFERS_BATCH,
    JP_MARKETPLACE_ID,
    SEARCH_CATALOG_ITEMS,
    Operation,
    QuotaExceededError,
    SpApiClient,
)
from ecauto_lib.amazon.lwa import LWA_TOKEN_URL, LwaAuth
from ecauto_lib.amazon.offers import (
    catalog_info_from_item,
    choose_offer,
    error_observations,
    observation_from_item,
)
from ecauto_lib.amazon.pacing import TokenBucket

__all__ = [
    "GET_ITEM_OFFERS_BATCH",
    "JP_MARKETPLACE_ID",
    "LWA_TOKEN_URL",
    "SEARCH_CATALOG_ITEMS",
    "LwaAuth",
    "Operation",
    "QuotaExceededError",
    "SpApiClient",
    "TokenBucket",
    "catalog_info_from_item",
    "choose_offer",
    "error_observations",
    "observation_from_item",
]
