"""Request and response bodies of the API's users, one module per resource: ``XPublic``
goes out. What users submit (``ExecutionCreate``, ``BatchCreate``, ``ScheduleCreate``) is
in ``rgrid_common.submission``, which the CLI builds; what workers and the autoscaler
send is the wire contract in ``rgrid_common.protocol``. Everything is importable from
here too."""

from rgrid_api.schemas.accounts import (AccountCreate, AccountCreated, AccountPublic,
                                        ApiKeyCreated, ApiKeyPublic)
from rgrid_api.schemas.artifacts import (ArtifactList, ArtifactPublic, BatchOutputs,
                                         BlobCompletion, ItemOutputs, UploadOffer,
                                         UploadOffers)
from rgrid_api.schemas.batches import BatchPublic
from rgrid_api.schemas.costs import (CostEstimate, CostLine, CostReport, SpendingLimit,
                                     SpendingLimitSet)
from rgrid_api.schemas.cache import CacheCleared, CacheCounts, CacheStats, ResultCacheStats
from rgrid_api.schemas.executions import (BatchRetry, CancelOutcome, ExecutionList,
                                          ExecutionPublic, LogChunkPublic, LogPage)
from rgrid_api.schemas.nodes import (AutoscalerEventPublic, Capacity, CapacityProblem,
                                     NodeList, NodePublic, ProvisioningNode)
from rgrid_api.schemas.runtimes import RuntimePublic
from rgrid_api.schemas.schedules import ScheduleList, SchedulePublic
from rgrid_common.protocol import AutoscalerEventIn, AutoscalerReport, Load, NodeReport
from rgrid_common.submission import (ApiKeyCreate, BatchCreate, ExecutionCreate, InputFile,
                                     ItemSpec, ScheduleCreate, ScriptSpec, UploadRequest)

__all__ = [
    "AccountCreate", "AccountCreated", "AccountPublic", "ApiKeyCreate", "ApiKeyCreated",
    "ApiKeyPublic", "ArtifactList", "ArtifactPublic", "BatchOutputs", "ItemOutputs",
    "AutoscalerEventIn", "AutoscalerEventPublic", "AutoscalerReport", "BatchCreate",
    "CostEstimate", "CostLine", "CostReport", "SpendingLimit", "SpendingLimitSet",
    "BatchPublic", "BatchRetry", "BlobCompletion", "CacheCleared", "CacheCounts",
    "CacheStats", "CancelOutcome", "Capacity", "CapacityProblem", "ExecutionCreate",
    "ExecutionList", "ExecutionPublic", "InputFile", "ItemSpec", "Load", "LogChunkPublic",
    "LogPage", "NodeList", "NodePublic", "NodeReport", "ProvisioningNode",
    "ResultCacheStats", "RuntimePublic", "ScheduleCreate", "ScheduleList",
    "SchedulePublic", "ScriptSpec", "UploadOffer", "UploadOffers", "UploadRequest",
]
