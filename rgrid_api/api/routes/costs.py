from datetime import datetime

from fastapi import APIRouter, Query

from rgrid_api.api.deps import CurrentAccount, NowDep, SessionDep
from rgrid_api.schemas import CostReport, SpendingLimit, SpendingLimitSet
from rgrid_api.services import costs, spending

router = APIRouter(prefix="/api/v1/costs", tags=["costs"])
DEFAULT_DAYS = 30


@router.get("")
def cost_report(account: CurrentAccount, session: SessionDep, now: NowDep,
                since: datetime | None = None, until: datetime | None = None,
                by: str = Query(costs.BY_DAY, max_length=80)) -> CostReport:
    """The account's cost of what ended in [since, until) (the last 30 days unless
    given), per day (UTC), script, batch or tag:KEY; amounts in micro-euros."""
    until = until or now
    return costs.report(session, account=account, by=by, until=until,
                        since=since or costs.days_before(until, DEFAULT_DAYS))


@router.get("/limit")
def spending_limit(account: CurrentAccount, session: SessionDep, now: NowDep) -> SpendingLimit:
    """This month's limit (calendar month, UTC) and what was spent of it."""
    return spending.view(session, account, now)


@router.put("/limit")
def set_spending_limit(body: SpendingLimitSet, account: CurrentAccount, session: SessionDep,
                       now: NowDep) -> SpendingLimit:
    """Your monthly limit (micro-euros; null removes it) and the webhook told past 80 %."""
    spending.set_limit(session, account, limit_micros=body.limit_micros,
                       webhook_url=body.webhook_url)
    return spending.view(session, account, now)
