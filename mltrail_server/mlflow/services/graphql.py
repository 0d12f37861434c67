"""Running one `/graphql` request as MLflow's server does: the query parsed and bounded
first (mlflow/graphql_limits.py), then executed against the schema, and the answer is
`{"data": ..., "errors": [message, ...] | null}`, with HTTP 200 whatever the errors were.

A field whose service refuses the request (an unknown run, a missing id) is `null`, and the
service's message is one of `errors`, as MLflow reports its exceptions. Anything else a
resolver raises (the database down, a bug) is not a message about the query: it propagates,
to be answered as the REST routes answer it (a 503 with Retry-After, a 500 without details).
"""

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ExecutionContext,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    execute,
    validate,
)
from graphql.pyutils import AwaitableOrValue, Path

from mltrail_server.errors import DomainError, TooManyRequests
from mltrail_server.mlflow.graphql_limits import QueryTooLarge, parse_bounded
from mltrail_server.mlflow.graphql_schema import GraphQLContext, schema

__all__ = ["GraphQLService"]


def _reported(error: GraphQLError) -> bool:
    """Whether the error is about the query (its message goes to the client)."""
    cause = error.original_error
    if cause is None:  # a variable or field error of the query itself
        return True
    return (
        isinstance(cause, DomainError)
        and cause.status_code < 500
        and not isinstance(cause, TooManyRequests)
    )


class SerialExecution(ExecutionContext):
    """The fields of each object resolved one after another, as a mutation's are: every
    resolver reads through the request's one database session, which takes one statement at a
    time (graphql-core would otherwise resolve sibling fields, e.g. ten aliased root fields,
    concurrently). No list of the schema holds objects with resolvers of their own."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        fields: dict[str, list[FieldNode]],
    ) -> AwaitableOrValue[dict[str, Any]]:
        return self.execute_fields_serially(parent_type, source_value, path, fields)


def _answer(data: dict[str, Any] | None, errors: list[GraphQLError]) -> dict[str, Any]:
    return {"data": data, "errors": [error.message for error in errors] or None}


@dataclass
class GraphQLService:
    context: GraphQLContext

    async def execute(
        self, query: str, variables: Mapping[str, Any] | None, operation_name: str | None
    ) -> dict[str, Any]:
        try:
            document = parse_bounded(query)
        except GraphQLError as syntax_error:
            return _answer(None, [syntax_error])
        except QueryTooLarge as too_large:
            return _answer(None, [GraphQLError(str(too_large))])
        invalid = validate(schema, document)
        if invalid:
            return _answer(None, invalid)
        result = execute(
            schema,
            document,
            variable_values=dict(variables) if variables is not None else None,
            operation_name=operation_name,
            context_value=self.context,
            execution_context_class=SerialExecution,
        )
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        errors = list(result.errors or ())
        for failed in errors:
            if not _reported(failed) and failed.original_error is not None:
                raise failed.original_error
        return _answer(result.data, errors)
