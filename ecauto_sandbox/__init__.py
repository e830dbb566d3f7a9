"""The simulated marketplace: SP-API (pricing + catalog), LWA and BASE on 127.0.0.1.

Used by the tests, the demo (``python flows/sync.py --demo``) and the benchmarks. It follows the
reference material closely enough that code passing against it should work against the real
services, but it is not Amazon or BASE: docs/sandbox.md lists what it does not simulate.

    from ecauto_sandbox import Sandbox, Scenario, Faults
    with Sandbox(Scenario.demo(), speed=100) as sb:
        ...  # sb.url, sb.lwa_credentials, sb.shops, sb.sell_out(asin), sb.requests
"""

from ecauto_sandbox.app import Sandbox
from ecauto_sandbox.clock import VirtualClock
from ecauto_sandbox.demo import DEMO_PLAN
from ecauto_sandbox.faults import Faults
from ecauto_sandbox.records import RequestRecord
from ecauto_sandbox.scenario import (
    MARKETPLACE_ID,
    BaseItem,
    Expectation,
    Offer,
    Product,
    Sale,
    Scenario,
    Shop,
    variation,
)
from ecauto_sandbox.state import LwaCredentials, SandboxError, ShopCredentials, UnknownObjectError

__all__ = [
    "DEMO_PLAN",
    "MARKETPLACE_ID",
    "BaseItem",
    "Expectation",
    "Faults",
    "LwaCredentials",
    "Offer",
    "Product",
    "RequestRecord",
    "Sale",
    "Sandbox",
    "SandboxError",
    "Scenario",
    "Shop",
    "ShopCredentials",
    "UnknownObjectError",
    "VirtualClock",
    "variation",
]
