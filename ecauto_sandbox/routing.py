"""Route tables: each simulated operation declared as data, as the product's client declares its own.

A :class:`Route` names the operation (the name in the request log, the fault plans and the quota
tables), its HTTP method, its path and the handler that answers it, like
:class:`ecauto_lib.amazon.client.Operation` on the client's side. A path is exact, or a template
whose ``{name}`` parts each match one path segment (``/products/pricing/v0/items/{asin}/offers``).
Each service has its own table (``ecauto_sandbox.amazon.routes``, ``ecauto_sandbox.base.routes``);
:func:`find` takes the first route of a table that matches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

H = TypeVar("H")
R = TypeVar("R", bound="Route[Any]")

_PLACEHOLDER = re.compile(r"\{\w+\}")


@dataclass(frozen=True)
class Route(Generic[H]):
    """One operation: ``method`` (None: any, the handler answers a wrong one itself) and ``path``."""

    operation: str
    method: str | None
    path: str
    handler: H
    prefix: bool = False  # True: ``path`` and every path under it (``path/...``)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        if self.prefix:
            return path == self.path or path.startswith(self.path + "/")
        if "{" not in self.path:
            return path == self.path
        return _pattern(self.path).match(path) is not None


@functools.cache
def _pattern(template: str) -> re.Pattern[str]:
    """``template`` as a regular expression, each ``{name}`` one path segment."""
    literals = _PLACEHOLDER.split(template)
    return re.compile("^" + "([^/]+)".join(re.escape(part) for part in literals) + "$")


def find(routes: Iterable[R], method: str, path: str) -> R | None:
    """The first of ``routes`` that answers ``method path``, or None."""
    return next((route for route in routes if route.matches(method, path)), None)
