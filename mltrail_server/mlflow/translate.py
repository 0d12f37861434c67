"""The translation rules between MLflow's wire protocol and our rows: ids, statuses, times,
artifact URIs and key checks.

- Experiment ids: our UUID as 32 lowercase hex digits; MLflow's default experiment "0" is the
  row with the nil UUID (00000000-0000-0000-0000-000000000000), named "Default", created on
  first use. Either spelling of a UUID (with or without hyphens) is accepted.
- Run ids: our UUID as 32 hex digits, like MLflow's own `uuid4().hex`.
- Times: milliseconds since the Unix epoch <-> UTC datetimes, exactly (no float rounding).
- Statuses: RUNNING, SCHEDULED, FINISHED, FAILED, KILLED <-> running, scheduled, completed,
  failed, killed.
- Artifacts: an experiment lives at `mlflow-artifacts:/<experiment id>` and a run at
  `mlflow-artifacts:/<experiment id>/<run id>/artifacts`, which the client resolves to the
  proxied artifact routes of this server.
"""

import uuid
from datetime import UTC, datetime, timedelta

from mltrail_server.db.tables import DEFAULT_EXPERIMENT_UUID
from mltrail_server.errors import InvalidInput
from mltrail_server.mlflow.errors import missing_value
from mltrail_server.models.run import RunStatus

# The MLflow release whose wire this server speaks: `GET /version` answers it, and the
# client gates features on it. The tests check it against the pinned client (pyproject.toml).
MLFLOW_VERSION = "3.17.2"
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
ARTIFACT_SCHEME = "mlflow-artifacts:"
RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"
USER_TAG = "mlflow.user"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

TO_MLFLOW_STATUS: dict[RunStatus, str] = {
    RunStatus.RUNNING: "RUNNING",
    RunStatus.SCHEDULED: "SCHEDULED",
    RunStatus.COMPLETED: "FINISHED",
    RunStatus.FAILED: "FAILED",
    RunStatus.KILLED: "KILLED",
}
FROM_MLFLOW_STATUS = {name: status for status, name in TO_MLFLOW_STATUS.items()}


def experiment_id_out(experiment_id: uuid.UUID) -> str:
    return DEFAULT_EXPERIMENT_ID if experiment_id == DEFAULT_EXPERIMENT_UUID else experiment_id.hex


def experiment_id_in(text: str | None, field: str = "experiment_id") -> uuid.UUID:
    """An MLflow experiment id as our UUID; 400 naming the field when it cannot be one."""
    if text is None or text == "":
        raise InvalidInput(missing_value(field))
    if text == DEFAULT_EXPERIMENT_ID:
        return DEFAULT_EXPERIMENT_UUID
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidInput(
            f"Invalid experiment ID {text!r} for parameter '{field}': expected '0' or an id "
            "returned by this server (32 hex digits)"
        ) from None


def experiment_id_or_none(text: str) -> uuid.UUID | None:
    """Our UUID for an MLflow experiment id; None when the text cannot name any experiment."""
    try:
        return experiment_id_in(text)
    except InvalidInput:
        return None


def run_id_out(run_id: uuid.UUID) -> str:
    return run_id.hex


def run_id_in(text: str) -> uuid.UUID | None:
    """Our UUID for an MLflow run id; None when the text cannot name any run."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _ONE_MS


def from_ms(millis: int, field: str) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        raise InvalidInput(
            f"Invalid value {millis} for parameter '{field}': not a time in milliseconds"
        ) from None


def experiment_artifact_location(experiment_id: uuid.UUID, stored: str | None) -> str:
    return stored or f"{ARTIFACT_SCHEME}/{experiment_id_out(experiment_id)}"


def run_artifact_uri(experiment_id: uuid.UUID, run_id: uuid.UUID, stored: str | None) -> str:
    return stored or f"{ARTIFACT_SCHEME}/{experiment_id_out(experiment_id)}/{run_id.hex}/artifacts"
