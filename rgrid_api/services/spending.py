"""Monthly spending limits (calendar months, UTC). Past 80 % every submission carries a
warning, and the account's webhook, if it set one, is told once a month; at 100 % new
work is refused (402) while work already running finishes. What counts as spent: the
cost, estimated or final, of the account's executions that ended this month."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rgrid_api.models import Account, Execution
from rgrid_api.schemas import SpendingLimit
from rgrid_common.errors import SpendingLimitReached
from rgrid_common.money import format_eur

log = logging.getLogger(__name__)
WARN_AT_PERCENT = 80
WEBHOOK_DELAYS = (1, 4, 16)  # between the attempts of a webhook post
WEBHOOK_TIMEOUT_SECONDS = 10


def month_of(now: datetime) -> tuple[str, datetime]:
    """``"2026-11"`` and the month's first instant."""
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.strftime("%Y-%m"), start


def spent_this_month(session: Session, account_id: str, now: datetime) -> int:
    _, start = month_of(now)
    return session.scalar(select(func.coalesce(func.sum(Execution.cost_micros), 0)).where(
        Execution.account_id == account_id, Execution.finished_at >= start))


def view(session: Session, account: Account, now: datetime) -> SpendingLimit:
    month, _ = month_of(now)
    return SpendingLimit(month=month, limit_micros=account.spend_limit_micros,
                         spent_micros=spent_this_month(session, account.id, now),
                         webhook_url=account.webhook_url, warn_at_percent=WARN_AT_PERCENT)


def set_limit(session: Session, account: Account, *, limit_micros: int | None,
              webhook_url: str | None) -> None:
    account.spend_limit_micros, account.webhook_url = limit_micros, webhook_url
    account.warned_month = None  # a new limit is warned of afresh
    session.commit()


def check_submission(session: Session, account: Account, now: datetime) -> str | None:
    """Refuses new work past the limit; past 80 %, the warning to show (and the webhook
    told, once this month)."""
    if account.spend_limit_micros is None:
        return None
    month, _ = month_of(now)
    spent, limit = spent_this_month(session, account.id, now), account.spend_limit_micros
    if spent >= limit:
        raise SpendingLimitReached(
            f"Spending limit reached: {format_eur(spent)} spent of {format_eur(limit)} "
            f"this month ({month}, UTC). New work is refused; what runs finishes.",
            "Raise it with `rgrid cost limit set EUROS` (or ask your admin), or wait for "
            "next month.")
    if spent * 100 < limit * WARN_AT_PERCENT:
        return None
    percent = spent * 100 // limit
    warning = (f"{percent} % of this month's spending limit used: "  # ASCII: a header
               f"{format_eur(spent, symbol='EUR ')} of {format_eur(limit, symbol='EUR ')} "
               f"({month}). New work is refused at 100 %.")
    _tell_webhook_once(session, account, month, warning, spent=spent, limit=limit)
    return warning


def _tell_webhook_once(session: Session, account: Account, month: str, warning: str, *,
                       spent: int, limit: int) -> None:
    claimed = session.execute(update(Account).where(
        Account.id == account.id, Account.warned_month.is_distinct_from(month))
        .values(warned_month=month)).rowcount
    session.commit()
    if not claimed or not account.webhook_url:
        return
    body = {"event": "spending_limit_warning", "account_id": account.id, "month": month,
            "spent_micros": spent, "limit_micros": limit, "percent": spent * 100 // limit,
            "message": warning}
    threading.Thread(target=post_with_retries, args=(account.webhook_url, body),
                     daemon=True, name="spending-webhook").start()


def post_with_retries(url: str, body: dict, *, sleep=time.sleep) -> bool:
    """POSTs ``body`` as JSON, tried again after 1, 4 and 16 s on a failure; whether it
    was delivered (a 2xx). A failure to deliver is logged, never silent."""
    for attempt, delay in enumerate((*WEBHOOK_DELAYS, None), start=1):
        try:
            answer = httpx.post(url, content=json.dumps(body),
                                headers={"Content-Type": "application/json"},
                                timeout=WEBHOOK_TIMEOUT_SECONDS)
            if answer.is_success:
                return True
            reason = f"answered {answer.status_code}"
        except httpx.HTTPError as exc:
            reason = exc.__class__.__name__
        if delay is None:
            log.error("spending webhook %s not delivered after %d attempts (%s)", url,
                      attempt, reason)
            return False
        log.warning("spending webhook %s %s (attempt %d); trying again in %d s", url,
                    reason, attempt, delay)
        sleep(delay)
    return False
