"""What the result cache and the dependency layers did for an account."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CacheCounts(BaseModel):
    hits: int
    misses: int


class ResultCacheStats(CacheCounts):
    skipped: int = Field(description="Runs asked for with --no-cache.")
    entries: int = Field(description="Succeeded executions a new one could be served from.")


class CacheStats(BaseModel):
    result: ResultCacheStats
    dependency_layer: CacheCounts


class CacheCleared(BaseModel):
    entries: int = Field(description="Result cache entries forgotten.")
