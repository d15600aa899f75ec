"""Database tables. Every row that belongs to a user carries ``account_id``."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


# Tags are searched by containment on PostgreSQL (a GIN index), by JSON path on SQLite.
TAGS = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """A time read back from the database: SQLite drops the zone, which is always UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("acc"))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # micro-euros per calendar month (UTC); None: no limit
    spend_limit_micros: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    warned_month: Mapped[str | None] = mapped_column(String(7), nullable=True)  # "2026-11"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("key"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="default",
                                      server_default="default")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConsoleSession(Base):
    """A browser signed in to the console with an API key: the cookie carries a random
    token, stored here only as its SHA-256. It ends at ``expires_at``, on sign-out, or when
    its key is revoked or expires."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"),
                                            index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WorkerToken(Base):
    """A worker's own token: the node it was issued to may claim work in its own name and
    report only for what it claimed. Stored as its SHA-256, like an API key."""

    __tablename__ = "worker_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("wkt"))
    worker: Mapped[str] = mapped_column(String(255), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Batch(Base):
    """One script over many input files: each item is an execution with ``batch_id``."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("account_id", "idempotency_key",
                                       name="uq_batches_account_idempotency_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("bat"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    script_name: Mapped[str] = mapped_column(String(255))
    total: Mapped[int] = mapped_column(Integer)
    parallel: Mapped[int] = mapped_column(Integer)
    fail_fast: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    flow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    retry_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The coordinating flow run reports in while it lives; one silent too long is replaced.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                          nullable=True)
    coordinator_attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    schedule_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    tags: Mapped[dict] = mapped_column(TAGS, default=dict, server_default="{}")
    idempotency_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # micro-euros: what it was expected to cost when it was submitted
    estimate_micros: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class BatchItemCount(Base):
    """How many of a batch's items are in one status, and, of those that ran and ended in
    it, their time: kept as items move (``rgrid_api.services.lifecycle``), so a batch's
    status, its live stream and its coordinator read six rows, not every item. A table
    of its own, not columns of the batch: each is updated last in its transaction, in
    one order, so counting never makes two transactions wait on each other."""

    __tablename__ = "batch_item_counts"

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"),
                                          primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    items: Mapped[int] = mapped_column(Integer, default=0)
    ran_items: Mapped[int] = mapped_column(Integer, default=0)  # started and ended
    ran_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # What those in it cost (micro-euros), how many have a cost, and how many a final one
    # (``rgrid_api.services.costs``): a priced item has ended, and ended items never move.
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    priced_items: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    final_items: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Schedule(Base):
    """A batch that recurs: its request (inputs already stored) and the Prefect
    deployment whose schedule fires it."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("sch"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    cron: Mapped[str | None] = mapped_column(String(120), nullable=True)
    every_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    script_name: Mapped[str] = mapped_column(String(255))
    batch: Mapped[dict] = mapped_column(JSON)
    deployment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Execution(Base):
    __tablename__ = "executions"
    __table_args__ = (Index("ix_executions_account_cache_key", "account_id", "cache_key"),
                      UniqueConstraint("account_id", "idempotency_key",
                                       name="uq_executions_account_idempotency_key"),
                      # the order every listing pages in: the account's newest first
                      Index("ix_executions_account_created", "account_id", "created_at", "id"),
                      Index("ix_executions_account_finished", "account_id", "finished_at"),
                      # a batch's items finished since a time (what a follower asks)
                      Index("ix_executions_batch_finished", "batch_id", "finished_at"),
                      # `tags @> '{"k": "v"}'` on PostgreSQL (a plain index on SQLite)
                      Index("ix_executions_tags", "tags", postgresql_using="gin",
                            postgresql_ops={"tags": "jsonb_path_ops"}))

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("ex"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    script_name: Mapped[str] = mapped_column(String(255))
    script_content: Mapped[str] = mapped_column(Text)
    runtime: Mapped[str] = mapped_column(String(32))
    image: Mapped[str] = mapped_column(String(255))
    args: Mapped[list] = mapped_column(JSON, default=list)
    env: Mapped[dict] = mapped_column(JSON, default=dict)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_mb: Mapped[int] = mapped_column(Integer, server_default="1024")
    cpus: Mapped[float] = mapped_column(Float)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # finished_at's UTC date, stored once: the cost report groups by it (README, Benchmarks)
    finished_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    batch_id: Mapped[str | None] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), nullable=True, index=True)
    batch_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retry_of: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # Automatic retries keep the execution and count attempts; each earlier attempt's
    # transient error is kept in ``retried_errors``.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    retried_errors: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                          nullable=True)
    # The normalised requirements.txt; installed into a dependency layer on the worker.
    requirements: Mapped[str | None] = mapped_column(Text, nullable=True)
    dependency_cache: Mapped[str | None] = mapped_column(String(8), nullable=True)  # hit|miss
    # sha256 of everything that decides the result; a later identical execution of the same
    # account is served from the newest succeeded one (``cached_from``) instead of running.
    cache_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result_cache: Mapped[str | None] = mapped_column(String(8), nullable=True)  # hit|miss|off
    cached_from: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # What the execution's outcome should say beside its status (outputs not kept, …).
    notes: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # The client's key for its submission: sent again (a retry), it finds this execution.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tags: Mapped[dict] = mapped_column(TAGS, default=dict, server_default="{}")
    script_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # [{"attempt", "worker", "reason"}] of each attempt that was given back
    attempt_history: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # micro-euros: an estimate at the end, the sum of its billing-hour shares once final
    cost_micros: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cost_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    compute_microseconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


MAX_LOG_SEQ = 2**31 - 1  # the seq column's range (a 32-bit integer on PostgreSQL)


class LogChunk(Base):
    __tablename__ = "log_chunks"
    __table_args__ = (UniqueConstraint("execution_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("executions.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    stream: Mapped[str] = mapped_column(String(8))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Artifact(Base):
    """A file of an execution: an input it was given or an output it left in /work."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("execution_id", "kind", "path"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("art"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("executions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(1024))
    arg_indexes: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(255))
    encoding: Mapped[str] = mapped_column(String(16), default="identity")
    key: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Node(Base):
    """A worker node the autoscaler made (a Hetzner server), as the autoscaler last saw it."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("node"))
    name: Mapped[str] = mapped_column(String(64), unique=True)
    pool: Mapped[str] = mapped_column(String(100))
    server_id: Mapped[int] = mapped_column(BigInteger)
    server_status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)  # provisioning|ready|deleted
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    worker_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                            nullable=True)
    running: Mapped[int] = mapped_column(Integer, default=0)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delete_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    server_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    price_per_hour_micros: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    price_source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    slots: Mapped[int | None] = mapped_column(Integer, nullable=True)


class BillingHour(Base):
    """A node's closed billing hour: its whole price, shared among the executions in it
    (``cost_shares``); with none, the pool's idle cost, charged to nobody."""

    __tablename__ = "billing_hours"
    __table_args__ = (UniqueConstraint("node", "started_at",
                                       name="uq_billing_hours_node_started"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    price_micros: Mapped[int] = mapped_column(BigInteger)
    price_source: Mapped[str] = mapped_column(String(200))
    executions: Mapped[int] = mapped_column(Integer)


class CostShare(Base):
    __tablename__ = "cost_shares"
    __table_args__ = (Index("ix_cost_shares_execution", "execution_id"),)

    billing_hour_id: Mapped[int] = mapped_column(
        ForeignKey("billing_hours.id", ondelete="CASCADE"), primary_key=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True)
    micros: Mapped[int] = mapped_column(BigInteger)
    microseconds: Mapped[int] = mapped_column(BigInteger)


class AutoscalerEvent(Base):
    """One thing the autoscaler decided or met, with the inputs it decided on."""

    __tablename__ = "autoscaler_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # decision|provision|delete|error
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
