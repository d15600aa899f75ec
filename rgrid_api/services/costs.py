"""What executions cost, in micro-euros: an estimate when one ends (its time × its node's
price per slot-second), then, once every billing hour it ran in has closed, its final
cost: the sum of its shares of those hours (``hour_sharing``). A result-cache hit ran
nowhere and costs nothing."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.models import Account, BillingHour, CostShare, Execution, Node, as_utc
from rgrid_api.schemas import CostEstimate, CostLine, CostReport
from rgrid_api.services import hour_sharing, lifecycle
from rgrid_api.services.hour_sharing import MICROSECOND, Stay
from rgrid_api.services.pricing import NodePrice, local_price, node_price, prices_of
from rgrid_common.errors import InvalidInput
from rgrid_common.money import format_eur
from rgrid_common.metadata import KEY as TAG_KEY

ESTIMATED, FINAL = "estimated", "final"
# An hour that ended longer ago than this is never shared out (its executions keep their
# estimates): a node reported with a creation time years back must not make years of
# hours. And at most so many hours per node per round, so a round always ends soon.
HORIZON = timedelta(days=35)
HOURS_PER_ROUND = 24


def estimate_finished(session: Session, execution: Execution, settings: Settings) -> None:
    """At the end of an execution that ran on a worker: its compute time and estimate."""
    if not (execution.worker and execution.started_at and execution.finished_at):
        return
    price = prices_of(session, {execution.worker}, settings)[execution.worker]
    ran = max(timedelta(0), as_utc(execution.finished_at) - as_utc(execution.started_at))
    execution.compute_microseconds = ran // MICROSECOND
    priced(session, execution,
           hour_sharing.estimate(price.per_hour_micros, price.slots, ran), ESTIMATED)


def priced(session: Session, execution: Execution, micros: int, state: str) -> None:
    """Gives an ended execution its cost, counted for its batch (``BatchItemCount``) in
    the same commit."""
    if execution.batch_id is not None:
        lifecycle.count_cost(session, execution.batch_id, execution.status,
                             micros=micros - (execution.cost_micros or 0),
                             priced=int(execution.cost_state is None),
                             final=int(state == FINAL) - int(execution.cost_state == FINAL))
    execution.cost_micros, execution.cost_state = micros, state


def basis_of(session: Session, execution: Execution, settings: Settings) -> str | None:
    """``"0.6 s on local-1 at €0.0060 an hour for 4 slots: configured (…)"``; for a
    final cost, that it is its share of the hours it ran in."""
    if execution.cached_from:
        return f"served from the cache: the result of {execution.cached_from}, not run again"
    if execution.cost_state is None or not execution.worker:
        return None
    price = prices_of(session, {execution.worker}, settings)[execution.worker]
    ran = (execution.compute_microseconds or 0) / 1_000_000
    basis = (f"{ran:.1f} s on {execution.worker} at {format_eur(price.per_hour_micros)} an "
             f"hour for {price.slots} slot{'s' * (price.slots != 1)}: {price.source}")
    if execution.cost_state == FINAL:
        return basis + "; final: its share of each billing hour it ran in"
    return basis + "; an estimate until its billing hours close"


def close_billing_hours(session: Session, *, settings: Settings, now: datetime) -> int:
    """Shares out every billing hour that has closed by ``now`` and was not yet, on every
    node and worker, and makes final the executions whose hours have all closed. Returns
    how many hours it closed. Committed."""
    workers = set(session.scalars(select(Execution.worker).distinct().where(
        Execution.worker.is_not(None), Execution.started_at.is_not(None))))
    priced_nodes = set(session.scalars(select(Node.name).where(
        Node.price_per_hour_micros.is_not(None))))
    closed = 0
    for worker, price in sorted(prices_of(session, workers | priced_nodes, settings).items()):
        closed += _close_hours_of(session, worker, price, now)
    session.commit()
    return closed


def _close_hours_of(session: Session, worker: str, price: NodePrice, now: datetime) -> int:
    """A Hetzner node's every hour from its creation, idle ones too (the pool paid for
    them); a configured worker's (not rented by the hour) only the clock hours that had
    work in them."""
    last = session.scalar(select(func.max(BillingHour.started_at))
                          .where(BillingHour.node == worker))
    last = as_utc(last) if last else None
    if price.created:
        hours = hour_sharing.closed_hours(
            worker, as_utc(price.created), after=last,
            deleted=as_utc(price.deleted) if price.deleted else None, now=now,
            not_before=now - HORIZON, limit=HOURS_PER_ROUND)
    else:
        hours = _clock_hours_with_work(session, worker, after=last, now=now)
    closed = [hour for hour in hours
              if _share(session, hour, price, keep_idle=price.created is not None)]
    if hours:
        make_final(session, worker, closed_until=hours[-1].ends)
    return len(closed)


def _clock_hours_with_work(session: Session, worker: str, *, after: datetime | None,
                           now: datetime) -> list[hour_sharing.BillingHour]:
    """The closed clock hours from the first one with work not yet shared out (those
    without work are not kept: ``_share``); empty when no work waits to be shared."""
    covered = after + hour_sharing.HOUR if after else None
    first = session.scalar(select(func.min(Execution.started_at)).where(
        Execution.worker == worker, Execution.started_at.is_not(None),
        *([or_(Execution.finished_at.is_(None), Execution.finished_at > covered)]
          if covered else [])))
    if first is None:
        return []
    start = as_utc(first).replace(minute=0, second=0, microsecond=0)
    start = max(start, covered) if covered else start
    return hour_sharing.closed_hours(worker, start, after=None, deleted=None, now=now,
                                     not_before=now - HORIZON, limit=HOURS_PER_ROUND)


def _inside(hour: hour_sharing.BillingHour) -> tuple:
    return (Execution.worker == hour.node, Execution.started_at < hour.ends,
            or_(Execution.finished_at.is_(None), Execution.finished_at > hour.started))


def _share(session: Session, hour: hour_sharing.BillingHour, price: NodePrice, *,
           keep_idle: bool) -> bool:
    """Records ``hour`` and its shares; an hour without work only with ``keep_idle``.
    Whether it was recorded."""
    stays = [Stay(row.id, as_utc(row.started_at), row.finished_at and as_utc(row.finished_at))
             for row in session.execute(
                 select(Execution.id, Execution.started_at, Execution.finished_at)
                 .where(*_inside(hour)))]
    split = hour_sharing.share_hour(price.per_hour_micros, hour, stays)
    if not split and not keep_idle:
        return False
    row = BillingHour(node=hour.node, started_at=hour.started, ends_at=hour.ends,
                      price_micros=price.per_hour_micros, price_source=price.source,
                      executions=len(split))
    session.add(row)
    session.flush()
    by_id = {stay.execution_id: stay for stay in stays}
    session.add_all(CostShare(billing_hour_id=row.id, execution_id=execution_id,
                              micros=micros,
                              microseconds=hour_sharing.inside(by_id[execution_id], hour))
                    for execution_id, micros in split.items())
    session.flush()
    return True


def make_final(session: Session, worker: str, *, closed_until: datetime) -> None:
    """An execution that ended by ``closed_until`` has had every hour it ran in closed:
    its cost is the sum of its shares. Its batch's kept cost changes with it: the batch
    items' rows are read first (and locked, on PostgreSQL), as few as end in an hour."""
    total = (select(func.coalesce(func.sum(CostShare.micros), 0))
             .where(CostShare.execution_id == Execution.id).scalar_subquery())
    ending = (Execution.worker == worker, Execution.finished_at.is_not(None),
              Execution.finished_at <= closed_until,
              or_(Execution.cost_state.is_(None), Execution.cost_state != FINAL),
              Execution.cached_from.is_(None))
    for batch_id, status, was_micros, was_state, micros in session.execute(
            select(Execution.batch_id, Execution.status, Execution.cost_micros,
                   Execution.cost_state, total)
            .where(*ending, Execution.batch_id.is_not(None))
            .order_by(Execution.id).with_for_update(of=Execution)):
        lifecycle.count_cost(session, batch_id, status, micros=micros - (was_micros or 0),
                             priced=int(was_state is None), final=1)
    session.execute(update(Execution).where(*ending)
                    .values(cost_micros=total, cost_state=FINAL),
                    execution_options={"synchronize_session": False})


# --- the report (`rgrid cost`, GET /api/v1/costs) -------------------------------------------

BY_DAY, BY_SCRIPT, BY_BATCH, TAG_PREFIX = "day", "script", "batch", "tag:"
SINGLE_RUNS = "(single runs)"


def report(session: Session, *, account: Account, since: datetime, until: datetime,
           by: str) -> CostReport:
    """The account's executions that ended in [since, until) and cost something or were
    priced at 0 (cache hits), summed per ``by``: day (UTC), script, batch or tag:KEY."""
    key = _group_key(by)
    estimated = case((Execution.cost_state == ESTIMATED, Execution.cost_micros), else_=0)
    final = case((Execution.cost_state == FINAL, Execution.cost_micros), else_=0)
    rows = session.execute(
        select(key.label("key"), func.count().label("executions"),
               func.coalesce(func.sum(Execution.compute_microseconds), 0),
               func.coalesce(func.sum(estimated), 0), func.coalesce(func.sum(final), 0))
        .where(Execution.account_id == account.id, Execution.cost_state.is_not(None),
               Execution.finished_at >= since, Execution.finished_at < until)
        .group_by(key).order_by(key)).all()
    lines = [CostLine(key=_shown_key(by, row[0]), executions=row[1],
                      compute_microseconds=row[2], estimated_micros=row[3],
                      final_micros=row[4]) for row in rows]
    return CostReport(by=by, since=since, until=until, rows=lines, total=CostLine(
        key="total", executions=sum(line.executions for line in lines),
        compute_microseconds=sum(line.compute_microseconds for line in lines),
        estimated_micros=sum(line.estimated_micros for line in lines),
        final_micros=sum(line.final_micros for line in lines)))


def days_before(moment: datetime, days: int) -> datetime:
    try:
        return moment - timedelta(days=days)
    except OverflowError:
        raise InvalidInput(f"{moment.isoformat()} is too early to count {days} days back "
                           "from.", "Give --since as well, or a later --until.") from None


def _group_key(by: str):
    if by == BY_DAY:
        # a stored column: a date computed on every row made the report over 100,000
        # executions 228 ms p50 on PostgreSQL, and 358 ms as text (README, Benchmarks)
        return Execution.finished_on
    if by == BY_SCRIPT:
        return Execution.script_name
    if by == BY_BATCH:
        return Execution.batch_id
    if by.startswith(TAG_PREFIX) and TAG_KEY.match(by.removeprefix(TAG_PREFIX)):
        return Execution.tags[by.removeprefix(TAG_PREFIX)].as_string()
    raise InvalidInput(f"Cannot group costs by {by!r}.",
                       "Use --by day, script, batch or tag:KEY (a tag's key).")


def _shown_key(by: str, value) -> str:
    if value is not None:
        return str(value)  # a day is a date: 2026-11-28
    return SINGLE_RUNS if by == BY_BATCH else f"(no {by.removeprefix(TAG_PREFIX)})"


# --- the estimate before a batch ---------------------------------------------------------

HISTORY = 100  # the latest runs a median is taken of


def batch_estimate(session: Session, *, account: Account, script_sha256: str,
                   script_name: str, count: int, settings: Settings) -> CostEstimate:
    """``count`` items × the median time of this script's earlier runs (by content, else
    by name, else the account's) × the pool's price per slot-second; no figure without
    history."""
    mine = (Execution.account_id == account.id, Execution.cached_from.is_(None),
            Execution.compute_microseconds.is_not(None))
    for basis, condition in (("this script's last runs",
                              Execution.script_sha256 == script_sha256),
                             (f"the last runs named {script_name}",
                              Execution.script_name == script_name),
                             ("your account's last runs", Execution.account_id == account.id)):
        times = list(session.scalars(select(Execution.compute_microseconds)
                                     .where(*mine, condition)
                                     .order_by(Execution.finished_at.desc()).limit(HISTORY)))
        if times:
            each = timedelta(microseconds=statistics.median_low(times))
            price = pool_price(session, settings)
            return CostEstimate(micros=hour_sharing.estimate(price.per_hour_micros, price.slots,
                                                             each * count),
                                seconds_each=each.total_seconds(), basis=basis,
                                runs=len(times))
    return CostEstimate(micros=None, seconds_each=None, basis=None, runs=0)


def pool_price(session: Session, settings: Settings) -> NodePrice:
    """What a slot of the pool costs: the newest priced node's, else the configured."""
    node = session.scalars(select(Node).where(Node.price_per_hour_micros.is_not(None))
                           .order_by(Node.created_at.desc()).limit(1)).first()
    return node_price(node) if node else local_price(settings)
