from fastapi import APIRouter

from rgrid_api.api.deps import CurrentAccount, NowDep, SessionDep
from rgrid_api.schemas import CacheCleared, CacheStats
from rgrid_api.services import result_cache

router = APIRouter(prefix="/api/v1/cache", tags=["cache"])


@router.get("/stats")
def cache_stats(account: CurrentAccount, session: SessionDep, now: NowDep) -> CacheStats:
    """Hits and misses of the account's result cache and dependency layers."""
    return result_cache.stats(session, account=account, now=now)


@router.delete("")
def clear_cache(account: CurrentAccount, session: SessionDep) -> CacheCleared:
    """The account's next runs all run; dependency layers (shared, per node) stay."""
    return CacheCleared(entries=result_cache.clear(session, account=account))
