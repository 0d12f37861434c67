"""The searchable entities of both APIs, each with its filter and order_by language.

- `RUNS`: v1 `POST /runs/search` and MLflow `runs/search` (MLflow's language plus `OR` and
  parentheses; metrics compare as numbers, times in ms).
- `EXPERIMENTS`: MLflow `experiments/search` (AND only, as MLflow).
- `LOGGED_MODELS`: MLflow `logged-models/search` (AND only).
- `REGISTERED_MODELS`, `MODEL_VERSIONS`: the model registry's searches, MLflow
  `registered-models/search` and `model-versions/search` and v1 `GET /models` (MLflow's
  language plus `OR` and parentheses, as run search).
"""

from mltrail_server.search.spec import (
    KEYED_OPS,
    LIST_OPS,
    NULL_OPS,
    NUMBER_OPS,
    STRING_OPS,
    Field,
    KeyedField,
    SearchSpec,
)

__all__ = ["EXPERIMENTS", "LOGGED_MODELS", "MODEL_VERSIONS", "REGISTERED_MODELS", "RUNS"]

_STRING = Field("string", STRING_OPS)
_ID = Field("string", ("=", "!=", *LIST_OPS))
_TIME = Field("time_ms", NUMBER_OPS)
_KEYED_STRING = Field("string", KEYED_OPS)


def _tags(orderable: bool = True) -> KeyedField:
    return KeyedField("tag", ("tags", "tag"), _KEYED_STRING, orderable=orderable)


def _params(orderable: bool = True) -> KeyedField:
    return KeyedField(
        "param", ("params", "param", "parameters", "parameter"), _KEYED_STRING, orderable=orderable
    )


RUNS = SearchSpec(
    what="runs",
    filter_example="metrics.acc > 0.9",
    order_example="metrics.acc or start_time",
    attributes={
        "artifact_uri": _STRING,
        "end_time": _TIME,
        # A nested run's parent; `parent_run_id IS NULL` keeps the top-level runs.
        "parent_run_id": Field("string", ("=", "!=", *LIST_OPS, *NULL_OPS)),
        "run_id": Field("string", STRING_OPS + LIST_OPS),
        "run_name": _STRING,
        "start_time": _TIME,
        "status": _STRING,
        "user_id": _STRING,
    },
    keyed=(
        KeyedField("metric", ("metrics", "metric"), Field("number", NUMBER_OPS)),
        _params(),
        _tags(),
        KeyedField(
            "dataset",
            ("datasets", "dataset"),
            Field("string", STRING_OPS + LIST_OPS),
            keys=("context", "digest", "name"),
            orderable=False,
        ),
    ),
    aliases={
        "run name": "run_name",
        "Run name": "run_name",
        "created": "start_time",
        "Created": "start_time",
    },
    attribute_prefixes=("attributes", "attribute", "attr", "run"),
    allow_or=True,
)

EXPERIMENTS = SearchSpec(
    what="experiments",
    filter_example="name LIKE 'nlp%'",
    order_example="name or creation_time",
    attributes={
        "name": _STRING,
        "experiment_id": _ID,
        "creation_time": _TIME,
        "last_update_time": _TIME,
    },
    keyed=(_tags(orderable=False),),
    allow_or=False,
)

LOGGED_MODELS = SearchSpec(
    what="logged models",
    filter_example="name = 'model'",
    order_example="name or creation_timestamp",
    attributes={
        "name": _STRING,
        "model_id": _ID,
        "model_type": _STRING,
        "status": _STRING,
        "source_run_id": _ID,
        "creation_timestamp": _TIME,
        "last_updated_timestamp": _TIME,
    },
    keyed=(_tags(orderable=False), _params(orderable=False)),
    aliases={
        "creation_time": "creation_timestamp",
        "creation_timestamp_ms": "creation_timestamp",
        "last_updated_timestamp_ms": "last_updated_timestamp",
        "run_id": "source_run_id",
    },
    allow_or=False,
    orderable=("creation_timestamp", "last_updated_timestamp", "name", "model_id"),
)

REGISTERED_MODELS = SearchSpec(
    what="registered models",
    filter_example="name LIKE 'clf%'",
    order_example="name or creation_timestamp",
    attributes={
        "name": _STRING,
        "creation_timestamp": _TIME,
        "last_updated_timestamp": _TIME,
    },
    keyed=(_tags(orderable=False),),
    aliases={
        "creation_time": "creation_timestamp",
        "timestamp": "creation_timestamp",
        "last_updated_time": "last_updated_timestamp",
    },
    allow_or=True,
)

MODEL_VERSIONS = SearchSpec(
    what="model versions",
    filter_example="name = 'clf'",
    order_example="version_number or creation_timestamp",
    attributes={
        "name": _STRING,
        "version_number": Field("integer", NUMBER_OPS),
        "run_id": _ID,
        "source_path": _STRING,
        "creation_timestamp": _TIME,
        "last_updated_timestamp": _TIME,
    },
    keyed=(_tags(orderable=False),),
    aliases={"source": "source_path", "timestamp": "creation_timestamp"},
    allow_or=True,
    orderable=("name", "version_number", "creation_timestamp", "last_updated_timestamp"),
)
