"""MLflow's multipart-upload messages (`mlflow-artifacts/mpu/create|complete|abort`), as the
client sends and reads them (`mlflow.entities.multipart_upload`)."""

from pydantic import Field

from mltrail_server.mlflow.wire import Message

__all__ = [
    "AbortMultipartUpload",
    "CompleteMultipartUpload",
    "CreateMultipartUpload",
    "CreateMultipartUploadResponse",
    "MultipartUploadCredential",
    "MultipartUploadPart",
    "PresignedDownload",
]

MAX_PARTS = 10_000  # S3's limit, which the client's chunking assumes


class CreateMultipartUpload(Message):
    path: str = Field(description="The client's local file; its name is the artifact's name")
    num_parts: int = Field(default=1, ge=1, le=MAX_PARTS)


class MultipartUploadCredential(Message):
    url: str
    part_number: int
    headers: dict[str, str] = Field(default_factory=dict)


class CreateMultipartUploadResponse(Message):
    upload_id: str
    credentials: list[MultipartUploadCredential]


class MultipartUploadPart(Message):
    part_number: int = Field(ge=1, le=MAX_PARTS)
    etag: str | None = None
    url: str | None = None


class CompleteMultipartUpload(Message):
    path: str
    upload_id: str
    parts: list[MultipartUploadPart] = Field(min_length=1, max_length=MAX_PARTS)


class AbortMultipartUpload(Message):
    path: str
    upload_id: str


class PresignedDownload(Message):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    file_size: int | None = None
