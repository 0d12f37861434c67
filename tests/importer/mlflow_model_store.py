"""An MLflow store with models, filled as a team's MLflow 3 training code fills one: two
scikit-learn regressors logged by one run (logged models with params, tags and a metric),
registered three ways (`models:/m-…`, the logged model's own artifact URI, and a folder
among the run's artifacts), with aliases and tags; and what the mlflow client reads back of
them, so the source and our server after an import can be compared."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from tests.importer.mlflow_store import CLIENT_ENVIRONMENT
from tests.services_available import require_module

EXPERIMENT = "models-source"
REGISTERED = "house prices"  # a space, as names may have
URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
FEATURES = {"rooms": [1.0, 2.0, 3.5, 7.0], "age": [10.0, 0.0, 3.0, 40.0]}


@dataclass
class FilledModels:
    run_id: str
    logged: list[str]  # logged model ids: the first regressor's, the second's
    expected: dict[str, list[float]]  # model URI -> predictions on FEATURES


@contextmanager
def fluent_client(uri: str) -> Iterator[None]:
    """mlflow's fluent API (start_run, log_model, register_model) writing to `uri`."""
    for name, value in CLIENT_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    saved = {name: os.environ.get(name) for name in URI_VARIABLES}
    mlflow.set_tracking_uri(uri)  # these set the variables too, for subprocesses
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def fill_models(uri: str, artifacts: Path, files: Path) -> FilledModels:
    require_module("sklearn", "a scikit-learn model is what teams register")
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame(FEATURES)
    first = LinearRegression().fit(frame, 2.0 * frame["rooms"] + 0.5 * frame["age"])
    second = LinearRegression().fit(frame, 3.0 * frame["rooms"] - frame["age"] + 1.0)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())
    with fluent_client(uri), mlflow.start_run(experiment_id=experiment) as run:
        run_id = run.info.run_id
        mlflow.log_param("alpha", "0.5")
        logged = []
        for index, regressor in enumerate((first, second)):
            info = mlflow.sklearn.log_model(
                regressor,
                name=f"regressor-{index}",
                pip_requirements=["mlflow"],
                params={"fit": f"fit-{index}"},
                tags={"team": "pricing"},
                model_type="regressor",
            )
            mlflow.log_metric("rmse", 0.25 * (index + 1), step=index, model_id=info.model_id)
            logged.append(info.model_id)
        mlflow.sklearn.save_model(first, str(files / "exported"))
        mlflow.log_artifacts(str(files / "exported"), artifact_path="exported")

        client.create_registered_model(
            REGISTERED, tags={"owner": "pricing"}, description="prices of houses"
        )
        mlflow.register_model(f"models:/{logged[0]}", REGISTERED, tags={"validated": "yes"})
        second_model = client.get_logged_model(logged[1])
        client.create_model_version(
            REGISTERED,
            source=second_model.artifact_location,
            run_id=run_id,
            tags={"candidate": "true"},
            description="the second fit",
            model_id=logged[1],
        )
        client.create_model_version(
            REGISTERED, source=f"{run.info.artifact_uri}/exported", run_id=run_id
        )
    client.set_registered_model_alias(REGISTERED, "champion", 2)
    client.set_registered_model_alias(REGISTERED, "legacy", 1)
    client.set_model_version_tag(REGISTERED, "3", "format", "folder")
    return FilledModels(
        run_id,
        logged,
        {
            f"models:/{REGISTERED}@champion": list(map(float, second.predict(frame))),
            f"models:/{REGISTERED}@legacy": list(map(float, first.predict(frame))),
            f"models:/{REGISTERED}/3": list(map(float, first.predict(frame))),
        },
    )


def registry_snapshot(uri: str) -> dict[str, Any]:
    """What the mlflow client reads of the registered model and the logged models."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    model = client.get_registered_model(REGISTERED)
    # One by one: MLflow's own store leaves the aliases out of a search's versions.
    versions = [
        client.get_model_version(REGISTERED, found.version)
        for found in client.search_model_versions(f"name = '{REGISTERED}'")
    ]
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    logged = client.search_logged_models([experiment.experiment_id])
    return {
        "model": (
            model.name,
            model.description or None,
            dict(model.tags),
            {alias: str(number) for alias, number in model.aliases.items()},
        ),
        "versions": {
            str(v.version): (
                v.run_id,
                v.status,
                v.current_stage,
                v.description or None,
                dict(v.tags),
                sorted(v.aliases),
                v.model_id or None,
                v.creation_timestamp,
            )
            for v in versions
        },
        "logged models": {
            m.model_id: (
                m.name,
                m.source_run_id,
                str(m.status),
                m.model_type or None,
                dict(m.params),
                dict(m.tags),
                sorted((x.key, x.value, x.step, x.run_id) for x in m.metrics or []),
                m.creation_timestamp,
            )
            for m in logged
        },
    }


LOAD = """
import json, sys
import mlflow
import pandas as pd
frame = pd.DataFrame(json.loads(sys.argv[1]))
print(json.dumps({uri: [float(x) for x in mlflow.pyfunc.load_model(uri).predict(frame)]
                  for uri in sys.argv[2:]}))
"""


def predictions(url: str, uris: list[str], environment: dict[str, str]) -> dict[str, list[float]]:
    """What `mlflow.pyfunc.load_model(uri).predict` gives with MLFLOW_TRACKING_URI=url, in a
    fresh process (no cache of the mlflow client's carries over)."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD, json.dumps(FEATURES), *uris],
        env={**environment, "MLFLOW_TRACKING_URI": url},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded
