"""The master DB schema as SQLAlchemy declarative models.

The schema is created and upgraded **only** by the Alembic migrations in
``ecauto_lib/db/migrations``; these models describe the same tables for queries and for the test
that compares them with the migrated database (``alembic.autogenerate.compare_metadata``). Change
both together: a new migration plus the model change.

Every timestamp column is a :class:`UtcDateTime`: timezone-aware UTC in Python on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names, so both backends (and autogenerate) agree on them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STOCK_STATES = ("in_stock", "out_of_stock", "filtered_out", "unknown")
OUTCOMES = ("in_stock", "out_of_stock", "filtered_out", "error")
LISTING_STATUSES = ("listed", "delisted")
CHANGE_FIELDS = ("price", "visible", "stock")
HELD_FIELDS = ("price", "visible")  # the guards hold prices and hides, never anything else
RUN_MODES = ("full", "price", "stock")
RUN_STATUSES = ("running", "succeeded", "finished_with_failures", "failed")


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamp with time zone``. SQLite has no time zone type: the value is
    stored as naive UTC text and UTC is re-attached on the way out. Naive input is rejected,
    because its time zone would be a guess.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Check ``value`` is aware and convert it to UTC (naive UTC for SQLite)."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UtcDateTime expects a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given to a UtcDateTime column: "
                "pass a timezone-aware datetime (e.g. datetime.now(UTC))"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime (SQLite hands back naive UTC)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL text of a CHECK that ``column`` holds one of ``values``."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class Product(Base):
    """One Amazon ASIN: catalog facts, the latest price, the stock state and the last fetch."""

    __tablename__ = "products"
    __table_args__ = (
        sa.CheckConstraint(_one_of("stock_state", STOCK_STATES), name="stock_state"),
        sa.CheckConstraint(_one_of("last_outcome", OUTCOMES), name="last_outcome"),
    )

    asin: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    # catalog (searchCatalogItems)
    title: Mapped[str | None] = mapped_column(sa.Text)
    brand: Mapped[str | None] = mapped_column(sa.Text)
    image_url: Mapped[str | None] = mapped_column(sa.Text)
    info_fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # price of the chosen offer (getItemOffersBatch), integer yen
    amazon_price_yen: Mapped[int | None] = mapped_column(sa.Integer)
    shipping_yen: Mapped[int | None] = mapped_column(sa.Integer)
    points: Mapped[int | None] = mapped_column(sa.Integer)
    price_fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # "offer" | "summary" (ecauto_lib.domain.PriceSource): a listed offer's price, or the Summary's
    # when Amazon's 20-offer list stopped before a qualifying offer (migration 0004; no CHECK)
    price_source: Mapped[str | None] = mapped_column(sa.String(16))
    # stock: three-state plus "never known"; an error never changes it
    stock_state: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="unknown")
    offer_count: Mapped[int | None] = mapped_column(sa.Integer)  # Summary.TotalOfferCount (all conditions)
    stock_fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # the last fetch, whatever it said
    last_outcome: Mapped[str | None] = mapped_column(sa.String(16))
    last_reason: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Listing(Base):
    """One BASE item of one shop account that sells one ASIN."""

    __tablename__ = "listings"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "asin"),
        sa.UniqueConstraint("account_id", "base_item_id"),
        sa.Index("ix_listings_asin", "asin"),
        sa.CheckConstraint(_one_of("status", LISTING_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    asin: Mapped[str] = mapped_column(sa.String(10), sa.ForeignKey("products.asin"), nullable=False)
    base_item_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    base_price: Mapped[int | None] = mapped_column(sa.Integer)  # what BASE shows now
    base_visible: Mapped[bool | None] = mapped_column(sa.Boolean)
    base_stock: Mapped[int | None] = mapped_column(sa.Integer)  # BASE's stock (the variations' sum)
    # BASE's variations [{"variation_id", "stock", "identifier", "name"}]; NULL: not known yet
    base_variations: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, server_default="listed")
    delisted_reason: Mapped[str | None] = mapped_column(sa.Text)
    # a change held back by the BASE hourly budget: goes first next run
    deferred_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class ChangeHistory(Base):
    """One change BASE confirmed (price in yen, visibility 1/0, or a stock count; ``variation_id``
    says which variation a stock change was for)."""

    __tablename__ = "change_history"
    __table_args__ = (
        sa.Index("ix_change_history_account_id_asin", "account_id", "asin"),
        sa.CheckConstraint(_one_of("field", CHANGE_FIELDS), name="field"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(sa.Integer, sa.ForeignKey("runs.id"))
    account_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    asin: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    base_item_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    field: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    old_value: Mapped[int | None] = mapped_column(sa.Integer)
    new_value: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    variation_id: Mapped[int | None] = mapped_column(sa.BigInteger)


class HeldChangeRow(Base):
    """A change the guards held for review (migration 0007): ``--confirm`` releases exactly these.

    One row per (shop, item, field). A run replaces the rows of the fields it decides for its shops
    (see :func:`ecauto_lib.db.held.record_held`); a --confirm run releases a change only when it
    would hold it again *and* it matches a row here by shop, item, field and value.
    """

    __tablename__ = "held_changes"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "base_item_id", "field"),
        sa.CheckConstraint(_one_of("field", HELD_FIELDS), name="field"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    asin: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    base_item_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    field: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    old_value: Mapped[int | None] = mapped_column(sa.Integer)
    new_value: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    run_id: Mapped[int | None] = mapped_column(sa.Integer, sa.ForeignKey("runs.id"))
    held_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class ReleaseRequest(Base):
    """A shop's held changes to release, asked for while a sync held the shop (migration 0009):
    the running sync's next round, or the next run, takes the row and releases them."""

    __tablename__ = "release_requests"

    account_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class BaseTokenRow(Base):
    """One BASE shop's OAuth pair (secrets: never log or print these columns)."""

    __tablename__ = "base_tokens"

    account_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(sa.Text, nullable=False)
    refresh_token: Mapped[str] = mapped_column(sa.Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # Token health (no secrets): when this refresh token was issued (it lapses ~30 days later),
    # when connect_shop authorised the shop and which BASE shop it is, the last refresh, and
    # BASE's refusal of the stored refresh token (cleared by the next pair stored).
    refresh_issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    authorised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    base_shop_id: Mapped[str | None] = mapped_column(sa.Text)
    base_shop_name: Mapped[str | None] = mapped_column(sa.Text)
    base_shop_url: Mapped[str | None] = mapped_column(sa.Text)
    refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refusal: Mapped[str | None] = mapped_column(sa.Text)

    def __repr__(self) -> str:  # never print secrets
        return f"BaseTokenRow(account_id={self.account_id!r}, access_token=***, refresh_token=***)"


class Run(Base):
    """One pipeline run: when, what mode, which accounts, how it ended."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # mode and status are not CHECK-constrained: new flows may add modes without a migration.
    mode: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    accounts: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(32), nullable=False, server_default="running")
    exit_code: Mapped[int | None] = mapped_column(sa.Integer)
    counts: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


JOURNAL_STATUSES = ("sent", "confirmed", "recovered", "abandoned", "failed")


class PushJournalEntry(Base):
    """One BASE edit, recorded *before* it is sent and marked when BASE confirms it.

    ``sent`` = about to be (or maybe) sent; ``confirmed`` = BASE answered and the listing was
    updated in the same transaction; ``recovered`` = found unconfirmed after a crash, and BASE
    already showed the new values; ``abandoned`` = found unconfirmed and BASE did not show them
    (the next plan decides afresh); ``failed`` = BASE refused it.
    """

    __tablename__ = "push_journal"
    __table_args__ = (
        sa.Index("ix_push_journal_account_id_status", "account_id", "status"),
        sa.CheckConstraint(_one_of("status", JOURNAL_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(sa.Integer, sa.ForeignKey("runs.id"))
    account_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    asin: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    base_item_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    old_values: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    reasons: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class AccountLock(Base):
    """Who is syncing an account right now (one sync per account at a time).

    ``token`` identifies the holding run (random; NULL in rows written before 0006); ``holder``
    says where it runs (host:pid), for messages only. Times are the database's clock.
    """

    __tablename__ = "account_locks"

    account_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    token: Mapped[str | None] = mapped_column(sa.String(64))
    holder: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    run_id: Mapped[int | None] = mapped_column(sa.Integer)
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class QuotaBucket(Base):
    """A token bucket in the database (GCRA): every process pacing one seller's operation shares it.

    ``next_free`` is the earliest epoch second *on the database's clock* (processes share no
    monotonic clock, and machines' wall clocks differ) at which the next call may leave at the steady rate; ``rate`` the server's rate as last reported
    by ``x-amzn-RateLimit-Limit``.
    """

    __tablename__ = "quota_buckets"

    key: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    rate: Mapped[float] = mapped_column(sa.Float, nullable=False)
    burst: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    next_free: Mapped[float] = mapped_column(sa.Float, nullable=False)


class BaseBudgetBlock(Base):
    """A BASE shop refused with ``day_api_limit``: no call to it until ``blocked_until``.

    ``blocked_until`` is the earliest instant BASE's daily count may reset
    (:func:`ecauto_lib.base.budget.next_daily_reset`: JST midnight assumed, UTC midnight if sooner).
    """

    __tablename__ = "base_budget_blocks"

    account_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), nullable=False)  # BASE's error code
    blocked_until: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


def _table(model: type[Base]) -> sa.Table:
    """A model's table (``__table__`` is typed as any FromClause; a declarative model's is a Table)."""
    table = model.__table__
    assert isinstance(table, sa.Table), model
    return table


products = _table(Product)
listings = _table(Listing)
change_history = _table(ChangeHistory)
base_tokens = _table(BaseTokenRow)
runs = _table(Run)
push_journal = _table(PushJournalEntry)
account_locks = _table(AccountLock)
quota_buckets = _table(QuotaBucket)
release_requests = _table(ReleaseRequest)
base_budget_blocks = _table(BaseBudgetBlock)
held_changes = _table(HeldChangeRow)
metadata = Base.metadata
