"""The GraphQL queries MLflow's UI sends to `/graphql`, as its source writes them (facts to
match: the run page's `GetRun`, the experiment page's `MlflowGetExperimentQuery`, and the
charts' `GetMetricHistoryBulkInterval`, which is behind a flag that is off in OSS)."""

import re
from typing import Any

GET_RUN = """
  query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetRun(input: $data) {
      apiError {
        helpUrl
        code
        message
      }
      run {
        info {
          runName
          status
          runUuid
          experimentId
          artifactUri
          endTime
          lifecycleStage
          startTime
          userId
        }
        experiment {
          experimentId
          name
          tags {
            key
            value
          }
          artifactLocation
          lifecycleStage
          lastUpdateTime
        }
        modelVersions {
          status
          version
          name
          source
        }
        data {
          metrics {
            key
            value
            step
            timestamp
          }
          params {
            key
            value
          }
          tags {
            key
            value
          }
        }
        inputs {
          datasetInputs {
            dataset {
              digest
              name
              profile
              schema
              source
              sourceType
            }
            tags {
              key
              value
            }
          }
          modelInputs {
            modelId
          }
        }
        outputs {
          modelOutputs {
            modelId
            step
          }
        }
      }
    }
  }
"""

GET_EXPERIMENT = """
  query MlflowGetExperimentQuery($input: MlflowGetExperimentInput!) @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetExperiment(input: $input) {
      apiError {
        code
        message
      }
      experiment {
        artifactLocation
        creationTime
        experimentId
        lastUpdateTime
        lifecycleStage
        name
        tags {
          key
          value
        }
      }
    }
  }
"""  # noqa: E501

GET_METRIC_HISTORY_BULK_INTERVAL = """
  query GetMetricHistoryBulkInterval($data: MlflowGetMetricHistoryBulkIntervalInput!)
  @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetMetricHistoryBulkInterval(input: $data) {
      __typename
      metrics {
        timestamp
        step
        runId
        key
        value
      }
      apiError {
        code
        message
      }
    }
  }
"""


def with_typenames(query: str) -> str:
    """The query as Apollo's cache sends it: `__typename` in every selection set but the
    operation's own."""
    head, _, rest = query.partition("{")
    return head + "{" + re.sub(r"\{\n", "{\n __typename\n", rest)


def body(query: str, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The JSON Apollo posts."""
    return {"operationName": operation, "variables": variables, "query": query}
