"""BASE (thebase.in): OAuth with refresh-token rotation, the items API client, and its errors."""

from ecauto_lib.base.auth import BASE_TOKEN_URL, BaseAuth, InMemoryTokenStore, TokenStore
from ecauto_lib.base.client import BASE_API_URL, BaseClient, Endpoint
from ecauto_lib.base.errors import (
    BadItemIdError,
    BaseApiError,
    BaseValidationError,
    BudgetExhaustedError,
    DayLimitError,
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
