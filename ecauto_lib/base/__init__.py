"""BASE (thebase.in): OAuth with refresh-token rotation, and the items API client."""

from ecauto_lib.base.auth import BASE_TOKEN_URL, BaseAuth, InMemoryTokenStore, TokenStore
from ecauto_lib.base.client import (
    BASE_API_URL,
    BadItemIdError,
    BaseApiError,
    BaseClient,
    BaseValidationError,
    BudgetExhaustedError,
    DayLimitError,
    Endpoint,
    HourLimitError,
)

__all__ = [
    "BASE_API_URL",
    "BASE_TOKEN_URL",
    "BadItemIdError",
    "BaseApiError",
    "BaseAuth",
    "BaseClient",
    "BaseValidationError",
    "BudgetExhaustedError",
    "DayLimitError",
    "Endpoint",
    "HourLimitError",
    "InMemoryTokenStore",
    "TokenStore",
]
