"""The JSON of a `/graphql` request and of its answer, as MLflow's server takes and writes
them: one operation per request (not a JSON array of them), and errors as plain messages."""

from typing import Any

from pydantic import ConfigDict, Field

from mltrail_server.mlflow.wire import Message


class GraphQLRequest(Message):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    query: str = Field(default="", description="The query document: one operation")
    variables: dict[str, Any] | None = None
    operation_name: str | None = Field(default=None, alias="operationName")


class GraphQLResponse(Message):
    data: dict[str, Any] | None = Field(
        description="The fields asked for; a field that failed is null"
    )
    errors: list[str] | None = Field(
        description="What failed, one message each (null when nothing did)"
    )
