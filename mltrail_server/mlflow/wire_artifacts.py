"""MLflow's messages for the artifact routes its UI calls: the upload by run id
(`upload-artifact`) and a logged model's files (`logged-models/{id}/artifacts/...`)."""

from mltrail_server.mlflow.wire import Message

__all__ = ["GetLoggedModelArtifact", "ListLoggedModelArtifacts", "UploadArtifactQuery"]


class UploadArtifactQuery(Message):
    """The query of `upload-artifact`: its UI names the run by `run_uuid` only."""

    run_uuid: str | None = None
    path: str | None = None


class ListLoggedModelArtifacts(Message):
    artifact_directory_path: str | None = None
    page_token: str | None = None


class GetLoggedModelArtifact(Message):
    artifact_file_path: str | None = None
