"""Preflight checks a seller runs before the first sync, and support asks for (``flows/doctor.py``).

Each check is a function returning a :class:`CheckResult` (✓ pass, ⚠ pass but act soon, ✗ fail with
the fix, – skipped because an earlier check failed). What the checks cost:

- LWA: one token request (no SP-API quota);
- SP-API: one ``searchCatalogItems`` call for one ASIN (one request of the catalog quota, 2 req/s;
  none of the pricing quota the sync needs);
- per BASE shop: one token refresh (the new pair is stored, as a sync does: BASE may rotate the
  refresh token), ``/1/users/me`` and ``/1/items?limit=1`` (2 of the shop's 5,000 calls/hour);
- the master DB is brought to the latest migration, as every command does before it writes.

Messages come from the clients, which never quote a secret; URLs are shown without passwords.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import requests
import sqlalchemy as sa

from ecauto_lib import db
from ecauto_lib.amazon.client import SEARCH_CATALOG_ITEMS, QuotaExceededError
from ecauto_lib.base.auth import ClientRefusedError, NeedsAuthorisationError, connect_command
from ecauto_lib.config import AccountConfig, Settings, load_settings, merged_environment
from ecauto_lib.connect import base_client, sp_api_client, token_store
from ecauto_lib.db.engine import schema_revisions
from ecauto_lib.errors import ApiError, ConfigError, CredentialsRefusedError, EcAutoError
from ecauto_lib.token_health import TokenState, lwa_secret_health, shop_token_health

SAMPLE_ASIN = "B07YV55TNL"
"""Any well-formed ASIN does: an unknown one is simply absent from a 200 answer."""


class Mark(StrEnum):
    PASS = "✓"
    WARN = "⚠"
    FAIL = "✗"
    SKIP = "–"


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's table."""

    check: str
    mark: Mark
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.mark is Mark.FAIL


def passed(results: list[CheckResult]) -> bool:
    return not any(r.failed for r in results)


def table(results: list[CheckResult]) -> list[str]:
    """The results as markdown table lines."""
    lines = ["| | 確認 (check) | 結果 (result) | 対処 (fix) |", "|---|---|---|---|"]
    for r in results:
        cells = (r.mark.value, r.check, r.detail, r.fix or "")
        lines.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    failed = sum(r.failed for r in results)
    lines += ["", f"{len(results) - failed} passed, {failed} failed" + ("" if failed else " — ready to sync")]
    return lines


def run_checks(
    env: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
) -> list[CheckResult]:
    """Every check, in order; later checks are skipped when what they need failed."""
    values = merged_environment(env, dotenv_path)
    results: list[CheckResult] = []
    sp_settings = _attempt(
        results, "設定 (settings: SP-API, policy)", lambda: _settings(values, accounts=False)
    )
    shop_settings = _attempt(results, "アカウント (accounts file)", lambda: _settings(values, accounts=True))
    settings = shop_settings or sp_settings
    engine = _database(results, settings)
    if sp_settings is not None:
        _amazon(results, sp_settings)
    else:
        results += [_skipped("LWA", "settings"), _skipped("SP-API", "settings")]
    if shop_settings is not None:
        for account in shop_settings.accounts:
            _shop(results, shop_settings, account, engine)
    if engine is not None:
        engine.dispose()
    results.append(_prefect(values.get("PREFECT_API_URL")))
    return results


# ------------------------------------------------------------------------------------ settings
def _settings(values: Mapping[str, str], *, accounts: bool) -> tuple[Settings, str]:
    settings = load_settings(values, dotenv_path=None, require_sp_api=not accounts, require_accounts=accounts)
    if accounts:
        names = ", ".join(f"{a.id} ({a.name})" for a in settings.accounts)
        return settings, f"{settings.accounts_file}: {len(settings.accounts)} shops: {names}"
    sp = settings.sp_api
    assert sp is not None
    return (
        settings,
        f"SP-API {sp.endpoint}, marketplace {sp.marketplace_id}, app {sp.app_id}; BASE {settings.base_api_url}",
    )


def _attempt(
    results: list[CheckResult], check: str, load: Callable[[], tuple[Settings, str]]
) -> Settings | None:
    try:
        settings, detail = load()
    except ConfigError as exc:
        where = "config/accounts.example.json" if "ACCOUNTS_FILE" in exc.setting else ".env.example"
        results.append(CheckResult(check, Mark.FAIL, str(exc), f"fix {exc.setting} (see {where})"))
        return None
    results.append(CheckResult(check, Mark.PASS, detail))
    return settings


# ------------------------------------------------------------------------------------ database
def _database(results: list[CheckResult], settings: Settings | None) -> sa.Engine | None:
    check = "マスターDB (master DB)"
    url = settings.database_url if settings else None
    if url is None:
        results.append(_skipped(check, "settings"))
        return None
    try:
        db.check_database(url)
        engine = db.make_engine(url)
        current, head = schema_revisions(engine)
        db.upgrade(engine)
    except ConfigError as exc:
        results.append(
            CheckResult(check, Mark.FAIL, str(exc), "fix DATABASE_URL (or start the database server)")
        )
        return None
    except sa.exc.SQLAlchemyError as exc:
        results.append(
            CheckResult(check, Mark.FAIL, f"{db.safe_url(url)}: {type(exc).__name__}", "fix DATABASE_URL")
        )
        return None
    where = db.safe_url(url)
    if current == head:
        detail = f"{where}: reachable, at the latest migration ({', '.join(sorted(head))})"
    elif not current:
        detail = f"{where}: reachable; new database, created at migration {', '.join(sorted(head))}"
    else:
        detail = (
            f"{where}: reachable; was at migration {', '.join(sorted(current))}, "
            f"migrated to {', '.join(sorted(head))}"
        )
    results.append(CheckResult(check, Mark.PASS, detail))
    return engine


# ------------------------------------------------------------------------------------ Amazon
def _amazon(results: list[CheckResult], settings: Settings) -> None:
    client = sp_api_client(settings)  # a pacer of this process only: the check writes nothing
    try:
        client.auth.access_token()
    except CredentialsRefusedError as exc:
        results.append(CheckResult("LWA", Mark.FAIL, f"token refused ({exc.code})", f"{exc.setting}: {exc}"))
        results.append(_skipped("SP-API", "LWA"))
        _lwa_secret(results, settings)
        return
    except ApiError as exc:
        results.append(CheckResult("LWA", Mark.FAIL, str(exc), "check the network and LWA_TOKEN_URL"))
        results.append(_skipped("SP-API", "LWA"))
        _lwa_secret(results, settings)
        return
    results.append(CheckResult("LWA", Mark.PASS, "access token obtained (1 token request, no SP-API quota)"))
    _lwa_secret(results, settings)
    call = (
        f"{SEARCH_CATALOG_ITEMS.name} for 1 ASIN: 1 request of its {SEARCH_CATALOG_ITEMS.rate:g} req/s quota"
    )
    try:
        client.search_catalog_items([SAMPLE_ASIN])
    except QuotaExceededError:
        results.append(
            CheckResult(
                "SP-API",
                Mark.PASS,
                f"{call}; answered 429 (another run is using the quota): credentials accepted",
            )
        )
    except CredentialsRefusedError as exc:
        results.append(
            CheckResult("SP-API", Mark.FAIL, f"{call}; refused (HTTP {exc.status})", f"{exc.setting}: {exc}")
        )
    except ApiError as exc:
        results.append(
            CheckResult("SP-API", Mark.FAIL, f"{call}; {exc}", "check SP_API_ENDPOINT and the network")
        )
    else:
        results.append(CheckResult("SP-API", Mark.PASS, f"{call} (none of the pricing quota); answered"))


def _lwa_secret(results: list[CheckResult], settings: Settings) -> None:
    check = "LWA client secret age"
    health = lwa_secret_health(settings.lwa_secret_rotated_at, datetime.now(UTC).date())
    if health.state is TokenState.UNKNOWN:
        results.append(
            CheckResult(
                check,
                Mark.PASS,
                "LWA_SECRET_ROTATED_AT not set (optional)",
                "set it to the date the secret was last rotated to be warned 14 days before Amazon retires it",
            )
        )
        return
    mark = {TokenState.OK: Mark.PASS, TokenState.EXPIRING: Mark.WARN}.get(health.state, Mark.FAIL)
    detail = f"rotated {health.rotated_on}; Amazon retires it on {health.retires_on} ({max(health.days_left or 0, 0)} days left)"
    results.append(CheckResult(check, mark, detail, health.message() or ""))


# ------------------------------------------------------------------------------------ BASE
def _shop(
    results: list[CheckResult], settings: Settings, account: AccountConfig, engine: sa.Engine | None
) -> None:
    name = f"BASE {account.id} ({account.name})"
    steps = ("token refresh", "/1/users/me", "items readable", "token days left")
    if engine is None:
        results += [_skipped(f"{name}: {step}", "master DB") for step in steps]
        return
    store = token_store(settings, engine)
    client = base_client(settings, account, store)
    try:
        token = client.auth.access_token()
        if client.auth.refresh_count == 0:  # the stored token was fresh: refresh anyway, that is the check
            client.auth.refresh(rejected_access_token=token)
    except EcAutoError as exc:
        if isinstance(exc, NeedsAuthorisationError):
            fix = connect_command(account.id)
        elif isinstance(exc, ConfigError):  # ECAUTO_SECRET_KEY missing, or not the tokens' key
            fix = f"set {exc.setting} (README: Security)"
        elif isinstance(exc, ClientRefusedError):
            fix = f"fix client_id / client_secret of {account.id} in the accounts file"
        else:
            fix = "BASE did not answer: try again later"
        results.append(CheckResult(f"{name}: {steps[0]}", Mark.FAIL, str(exc), fix))
        results += [_skipped(f"{name}: {step}", steps[0]) for step in steps[1:]]
        return
    results.append(CheckResult(f"{name}: {steps[0]}", Mark.PASS, "refreshed; the new pair is stored"))
    try:
        shop = client.shop()
        results.append(
            CheckResult(f"{name}: {steps[1]}", Mark.PASS, f"BASE shop {shop.name!r} ({shop.shop_id})")
        )
    except EcAutoError as exc:
        results.append(
            CheckResult(
                f"{name}: {steps[1]}", Mark.FAIL, str(exc), "try again later; if it persists, ask BASE"
            )
        )
    try:
        client.list_items(limit=1)
        results.append(
            CheckResult(f"{name}: {steps[2]}", Mark.PASS, "GET /1/items answered (1 of 5,000 calls/hour)")
        )
    except EcAutoError as exc:
        fix = (
            connect_command(account.id)
            if getattr(exc, "code", None) == "invalid_scope"
            else "try again later"
        )
        results.append(CheckResult(f"{name}: {steps[2]}", Mark.FAIL, str(exc), fix))
    health = shop_token_health(account, store.records([account.id]).get(account.id), datetime.now(UTC))
    mark = {TokenState.OK: Mark.PASS, TokenState.EXPIRING: Mark.WARN}.get(health.state, Mark.FAIL)
    detail = (
        f"{max(health.days_left, 0)} days before the refresh token is expected to lapse ({health.cells()[4]})"
        if health.days_left is not None
        else health.cells()[6]
    )
    results.append(
        CheckResult(f"{name}: {steps[3]}", mark, detail, "" if mark is Mark.PASS else health.command)
    )


# ------------------------------------------------------------------------------------ Prefect
def _prefect(api_url: str | None) -> CheckResult:
    check = "Prefect API"
    if not api_url:
        return CheckResult(
            check, Mark.PASS, "PREFECT_API_URL not set: each run starts a temporary local server"
        )
    try:
        answer = requests.get(api_url.rstrip("/") + "/health", timeout=(3.0, 5.0))
    except requests.RequestException as exc:
        return CheckResult(
            check,
            Mark.FAIL,
            f"{_no_query(api_url)}: {type(exc).__name__}",
            "start it (`prefect server start`) or unset PREFECT_API_URL",
        )
    if answer.status_code != 200:
        return CheckResult(
            check,
            Mark.FAIL,
            f"{_no_query(api_url)}/health answered HTTP {answer.status_code}",
            "check PREFECT_API_URL",
        )
    return CheckResult(check, Mark.PASS, f"{_no_query(api_url)} reachable")


def _no_query(url: str) -> str:
    return url.split("?", 1)[0]


def _skipped(check: str, because: str) -> CheckResult:
    return CheckResult(check, Mark.SKIP, f"not checked: {because} failed")
