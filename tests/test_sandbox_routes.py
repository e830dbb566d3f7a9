"""The simulator's route tables: every operation declared once, matching the client's declarations."""

from __future__ import annotations

import pytest

from ecauto_lib.amazon.client import OPERATIONS
from ecauto_sandbox.amazon import routes as sp_api
from ecauto_sandbox.base import routes as base_api
from ecauto_sandbox.quotas import SP_API_USAGE_PLANS
from ecauto_sandbox.routing import Route, find


def test_every_sp_api_route_has_a_usage_plan_and_every_plan_a_route():
    names = [r.operation for r in sp_api.ROUTES]
    assert len(names) == len(set(names))
    assert set(names) == set(SP_API_USAGE_PLANS)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_the_simulator_serves_each_client_operation_at_its_method_and_path(operation):
    served = {r.operation: r for r in sp_api.ROUTES}[operation.name]
    assert (served.method, served.path) == (operation.method, operation.path)
    concrete = operation.path.replace("{asin}", "B00TEST123")
    assert sp_api.route(operation.method, concrete) is served


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "/batches/products/pricing/v0/itemOffers", "getItemOffersBatch"),
        ("GET", "/batches/products/pricing/v0/itemOffers", None),
        ("GET", "/products/pricing/v0/items/B00TEST123/offers", "getItemOffers"),
        ("GET", "/products/pricing/v0/items/B00/TEST/offers", None),
        ("GET", "/products/pricing/v0/items//offers", None),
        ("POST", "/products/pricing/v0/items/B00TEST123/offers", None),
        ("GET", "/products/pricing/v0/competitivePrice", "getCompetitivePricing"),
        ("GET", "/catalog/2022-04-01/items", "searchCatalogItems"),
        ("GET", "/catalog/2022-04-01/items/B00TEST123", "getCatalogItem"),
        ("GET", "/catalog/2022-04-01/items/B00TEST123/x", None),
        ("GET", "/catalog/2022-04-01/itemsX", None),
    ],
)
def test_sp_api_paths_resolve_to_their_operation(method, path, operation):
    found = sp_api.route(method, path)
    assert (found.operation if found else None) == operation


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "/1/oauth/token", "baseToken"),
        ("GET", "/1/oauth/token", "baseToken"),  # the handler answers a wrong method itself
        ("GET", "/1/oauth/authorize", "baseAuthorize"),
        ("POST", "/1/oauth/authorize", "baseAuthorize"),
        ("GET", "/1/users/me", "usersMe"),
        ("POST", "/1/users/me", None),
        ("GET", "/1/items", "items"),
        ("POST", "/1/items", None),
        ("GET", "/1/items/detail", "itemsDetail"),
        ("GET", "/1/items/detail/123", "itemsDetail"),
        ("GET", "/1/items/detailx", None),
        ("POST", "/1/items/edit", "itemsEdit"),
        ("GET", "/1/items/edit", "itemsEdit"),  # not_post_method, from the handler
        ("POST", "/1/items/edit_stock", "itemsEditStock"),
        ("POST", "/1/items/delete", "itemsDelete"),
        ("GET", "/1/orders", None),
    ],
)
def test_base_paths_resolve_to_their_operation(method, path, operation):
    found = base_api.route(method, path)
    assert (found.operation if found else None) == operation


def test_find_takes_the_first_matching_route():
    routes = [
        Route("a", "GET", "/x/{id}", 1),
        Route("b", None, "/x/1", 2),
        Route("c", None, "/x", 3, prefix=True),
    ]
    assert find(routes, "GET", "/x/1").operation == "a"
    assert find(routes, "POST", "/x/1").operation == "b"
    assert find(routes, "POST", "/x/2/3").operation == "c"
    assert find(routes, "POST", "/y") is None
