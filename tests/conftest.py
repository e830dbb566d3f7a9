"""Shared fixtures.

Isolation first: every test session gets its own PREFECT_HOME and result storage (Prefect's task
cache lives there), so nothing leaks between runs or from a developer's own ~/.prefect.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

_SESSION_TMP = tempfile.mkdtemp(prefix="ecauto-tests-")
os.environ["PREFECT_HOME"] = os.path.join(_SESSION_TMP, "prefect-home")
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = os.path.join(_SESSION_TMP, "prefect-results")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Never let a developer's .env or shell credentials reach a test.
for _name in ("SP_API_REFRESH_TOKEN", "REFRESH_TOKEN", "LWA_APP_ID", "LWA_CLIENT_SECRET", "DATABASE_URL"):
    os.environ.pop(_name, None)
# The BASE tokens in a test database are encrypted with a key of the session's own (the simulated
# marketplace's runs set one per test: tests.marketplace via flows.demo.demo_environment).
from cryptography.fernet import Fernet  # noqa: E402

os.environ["ECAUTO_SECRET_KEY"] = Fernet.generate_key().decode()

POSTGRES_ADMIN_URL = os.environ.get(
    "ECAUTO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _postgres_available() -> str | None:
    """None when the server answers, else the reason it does not."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the test PostgreSQL server; skips (fails in CI) when it is down."""
    reason = _postgres_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from ecauto_lib.db.engine import throwaway_postgres_database

    with throwaway_postgres_database(postgres_server, "ecauto_t") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh SQLite file database for one test."""
    return f"sqlite:///{tmp_path / 'master.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url):
    """A migrated master DB on each backend (``db_url``), disposed afterwards."""
    from ecauto_lib.db import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A Prefect server for the whole session (flow tests only: unit tests never start one)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
