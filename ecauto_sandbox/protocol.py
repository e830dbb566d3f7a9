"""What a handler receives and returns: transport-free request and reply values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Request:
    """One HTTP request as the handlers see it. ``arrived`` is the real monotonic arrival time."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    arrived: float

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (case-sensitive, like Amazon's), or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def csv_param(self, name: str) -> list[str]:
        """All values of ``name``: repeated keys and comma-separated lists, empty parts dropped."""
        return [part for value in self.query.get(name, []) for part in value.split(",") if part]

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def form(self) -> dict[str, str]:
        """The body as an ``application/x-www-form-urlencoded`` form (first value per key)."""
        parsed = parse_qs(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.body.decode("utf-8"))

    def flat_query(self) -> dict[str, Any]:
        """The query for the log: one value per key as a string, repeated keys as a list."""
        return {k: (v[0] if len(v) == 1 else list(v)) for k, v in self.query.items()}


@dataclass
class Reply:
    """A handler's answer plus what the request log needs to know about it.

    ``payload`` is serialised as JSON unless ``raw`` is set (an HTML error page, a truncated body).
    ``delay`` holds the answer back that many real seconds (the slow fault).
    """

    status: int
    payload: Any = None
    service: str = "sp-api"
    operation: str = "unknown"
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    shop_id: str | None = None
    asins: tuple[str, ...] = ()
    faults: list[str] = field(default_factory=list)
    logged_body: Any = None
    request_id: str | None = None
    delay: float = 0.0
    ensure_ascii: bool = False  # BASE escapes non-ASCII as \uXXXX (PHP's json_encode); Amazon sends UTF-8

    def body_bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.payload is None:
            return b""
        return json.dumps(self.payload, ensure_ascii=self.ensure_ascii, separators=(",", ":")).encode("utf-8")
