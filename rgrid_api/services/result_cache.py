"""The result cache: an execution identical to an earlier success of the same account is
answered with that success's outputs instead of running again.

"Identical" is the cache key: a hash of everything that decides what a script does — its
name and bytes, the runtime and its image, the requirements, each argument, each input's
name and content hash, each environment value. Changing any of them changes the key, so
nothing is ever invalidated by hand. Limits (memory, CPUs, timeout) are left out: they
decide whether a run succeeds, not what a success produced.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rgrid_api.models import Account, Artifact, Execution, as_utc
from rgrid_api.schemas import CacheCounts, CacheStats, ItemSpec, ResultCacheStats, ScriptSpec
from rgrid_api.services import artifacts, costs, lifecycle
from rgrid_api.storage import ObjectStore
from rgrid_common.requirements import Requirements
from rgrid_common.status import ArtifactKind, CacheOutcome, ExecutionStatus

HIT, MISS, OFF = (outcome.value for outcome in CacheOutcome)
OUTPUT = ArtifactKind.OUTPUT.value
KEY_VERSION = 1
CANDIDATES = 5  # newest successes looked at; older ones are as likely to have expired


def cache_key(spec: ScriptSpec, item: ItemSpec, *, script_sha256: str, runtime: str,
              image: str, requirements: Requirements | None) -> str:
    """``script_sha256`` comes in hashed: a batch's items share one script."""
    identity = {
        "version": KEY_VERSION,
        "script_name": spec.script_name,
        "script_sha256": script_sha256,
        "runtime": runtime,
        "image": image,
        "requirements_sha256": requirements.sha256 if requirements else None,
        "args": item.args,
        "inputs": sorted((i.name, i.sha256, sorted(i.arg_indexes)) for i in item.inputs),
        "env": sorted(spec.env.items()),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def find_cached(session: Session, store: ObjectStore, *, account_id: str, key: str,
                now: datetime) -> Execution | None:
    """The newest succeeded execution of the account with this key whose outputs all
    still exist; None (a miss, never an error) when there is none."""
    candidates = session.scalars(
        select(Execution)
        .where(Execution.account_id == account_id, Execution.cache_key == key,
               Execution.status == ExecutionStatus.SUCCEEDED.value)
        .order_by(Execution.finished_at.desc(), Execution.created_at.desc()).limit(CANDIDATES))
    for candidate in candidates:
        if _outputs_alive(session, store, candidate, now):
            return candidate
    return None


def _outputs_alive(session: Session, store: ObjectStore, execution: Execution,
                   now: datetime) -> bool:
    outputs = session.scalars(select(Artifact).where(Artifact.execution_id == execution.id,
                                                     Artifact.kind == OUTPUT))
    return all(as_utc(output.expires_at) > now and store.stat(output.key) is not None
               for output in outputs)


def serve_from_cache(session: Session, execution: Execution, source: Execution,
                     now: datetime) -> None:
    """``execution`` becomes a success with ``source``'s result: its outputs linked (the
    same stored objects, the same expiry), its exit code; its logs are read from the
    execution that ran."""
    if lifecycle.finish(session, execution, ExecutionStatus.SUCCEEDED, now=now,
                        from_status=ExecutionStatus.QUEUED, started_at=now,
                        exit_code=source.exit_code,
                        cached_from=source.cached_from or source.id, result_cache=HIT,
                        compute_microseconds=0):
        costs.priced(session, execution, 0, costs.FINAL)  # it ran nowhere
    for output in session.scalars(select(Artifact).where(Artifact.execution_id == source.id,
                                                         Artifact.kind == OUTPUT)):
        artifacts.add_link(session, output, to=execution)


def stats(session: Session, *, account: Account, now: datetime) -> CacheStats:
    mine = Execution.account_id == account.id
    results = dict(session.execute(
        select(Execution.result_cache, func.count()).where(mine)
        .group_by(Execution.result_cache)).all())
    layers = dict(session.execute(
        select(Execution.dependency_cache, func.count()).where(mine)
        .group_by(Execution.dependency_cache)).all())
    entries = session.scalar(select(func.count()).select_from(Execution).where(
        mine, *_entry_conditions(), ~Execution.id.in_(select(Artifact.execution_id).where(
            Artifact.kind == OUTPUT, Artifact.expires_at <= now))))
    return CacheStats(
        result=ResultCacheStats(hits=results.get(HIT, 0), misses=results.get(MISS, 0),
                                skipped=results.get(OFF, 0), entries=entries),
        dependency_layer=CacheCounts(hits=layers.get(HIT, 0), misses=layers.get(MISS, 0)))


def clear(session: Session, *, account: Account) -> int:
    """Forget the account's cache entries, so its next runs all run; how many there were."""
    forgotten = session.scalar(select(func.count()).select_from(Execution).where(
        Execution.account_id == account.id, *_entry_conditions()))
    session.execute(update(Execution).where(Execution.account_id == account.id,
                                            Execution.cache_key.is_not(None))
                    .values(cache_key=None))
    session.commit()
    return forgotten


def _entry_conditions() -> tuple:
    """An execution others can be served from: it ran (was not itself served) and won."""
    return (Execution.cache_key.is_not(None), Execution.cached_from.is_(None),
            Execution.status == ExecutionStatus.SUCCEEDED.value)

