"""mltrail: the Python SDK and CLI of Experiment Tracker.

```python
import mltrail

mltrail.init(url="http://tracker:8000")            # or MLTRAIL_URL / MLTRAIL_API_KEY
with mltrail.start_run(experiment="mnist", params={"lr": 0.01}) as run:
    for step in range(1000):
        run.log({"loss": 1 / (step + 1)}, step=step)  # never blocks, never loses a point

client = mltrail.Client()
best = client.search("metrics.loss < 0.01", order_by=["metrics.loss ASC"], max_results=10)
```
"""

from mltrail.client import Client
from mltrail.config import Settings, init
from mltrail.errors import (
    ApiError,
    ConfigError,
    Conflict,
    Forbidden,
    InvalidRequest,
    MltrailError,
    NotFound,
    ServerUnreachable,
    Unauthorized,
)
from mltrail.models import (
    ApiKey,
    ArtifactFile,
    Experiment,
    MetricHistory,
    MetricPoint,
    MetricSummary,
    Run,
    RunList,
    RunSummary,
    User,
)
from mltrail.run import ActiveRun, start_run
from mltrail.sync import SyncReport

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "ApiError",
    "ApiKey",
    "ArtifactFile",
    "Client",
    "ConfigError",
    "Conflict",
    "Experiment",
    "Forbidden",
    "MltrailError",
    "InvalidRequest",
    "MetricHistory",
    "MetricPoint",
    "MetricSummary",
    "NotFound",
    "Run",
    "RunList",
    "RunSummary",
    "ServerUnreachable",
    "Settings",
    "SyncReport",
    "Unauthorized",
    "User",
    "init",
    "start_run",
    "sync",
]


def sync(spool_dir: str | None = None, run_id: str | None = None) -> SyncReport:
    """Upload what runs left in the spool (see `mltrail sync`)."""
    from pathlib import Path

    from mltrail.config import current_settings
    from mltrail.sync import sync_spool
    from mltrail.transport import Transport

    settings = current_settings(spool_dir=spool_dir)
    with Transport(settings) as transport:
        return sync_spool(transport, Path(settings.spool_dir), run_id=run_id)
