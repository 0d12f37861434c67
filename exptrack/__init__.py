"""exptrack: the Python SDK and CLI of Experiment Tracker.

```python
import exptrack

exptrack.init(url="http://tracker:8000")            # or EXPTRACK_URL / EXPTRACK_API_KEY
with exptrack.start_run(experiment="mnist", params={"lr": 0.01}) as run:
    for step in range(1000):
        run.log({"loss": 1 / (step + 1)}, step=step)  # never blocks, never loses a point

client = exptrack.Client()
best = client.search("metrics.loss < 0.01", order_by=["metrics.loss ASC"], max_results=10)
```
"""

from exptrack.client import Client
from exptrack.config import Settings, init
from exptrack.errors import (
    ApiError,
    ConfigError,
    Conflict,
    ExptrackError,
    InvalidRequest,
    NotFound,
    ServerUnreachable,
    Unauthorized,
)
from exptrack.models import (
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
from exptrack.run import ActiveRun, start_run
from exptrack.sync import SyncReport

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
    "ExptrackError",
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
    """Upload what runs left in the spool (see `exptrack sync`)."""
    from pathlib import Path

    from exptrack.config import current_settings
    from exptrack.sync import sync_spool
    from exptrack.transport import Transport

    settings = current_settings(spool_dir=spool_dir)
    with Transport(settings) as transport:
        return sync_spool(transport, Path(settings.spool_dir), run_id=run_id)
