"""`/graphql`: the GraphQL endpoint of MLflow's UI, at the server's root as MLflow has it
(no `/ajax-api` prefix). Its run page asks `mlflowGetRun` and its experiment page
`mlflowGetExperiment` there (mlflow/graphql_schema.py). Every field reads, so the POST is
read-only by route, and a query is answered from the same services as the REST reads.

MLflow registers GET too, but answers only a GET that carries a JSON body (any other is its
500); a GET here is a 405, and the UI posts."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from mltrail_server.errors import InvalidInput
from mltrail_server.mlflow.dependencies import GraphQLServiceDep
from mltrail_server.mlflow.errors import MlflowRoute, missing_value
from mltrail_server.mlflow.wire_graphql import GraphQLRequest, GraphQLResponse
from mltrail_server.routes.responses import orjson_response
from mltrail_server.services.access import READ_ONLY

router = APIRouter(route_class=MlflowRoute)


@router.post("/graphql", response_model=GraphQLResponse, openapi_extra=READ_ONLY)
async def graphql_query(
    request: Annotated[GraphQLRequest | list[Any], Body()], service: GraphQLServiceDep
) -> Response:
    """Run one GraphQL query (`query`, `variables`, `operationName`): at most 10 root fields,
    10 aliases a level, a depth of 10 and 1,000 selections. The answer is 200 with `data`
    and `errors` (messages), as MLflow's server gives it."""
    if isinstance(request, list):
        raise InvalidInput(
            "Batched GraphQL requests (a JSON array) are not supported: send one object "
            "with 'query' (and 'variables', 'operationName')."
        )
    if not request.query:
        raise InvalidInput(missing_value("query"))
    answer = await service.execute(request.query, request.variables, request.operation_name)
    return orjson_response(answer)
