"""deploy/kubernetes: every manifest valid against the Kubernetes JSON schemas that
kubernetes-validate ships (strict: an unknown field fails), the objects referring to each
other by the right names, and the pods' probes and commands working on a real server. No
cluster runs here, so nothing is applied."""

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import ImageServer
from tests.deploy.deploy_files import DEPLOY, ROOT, Dockerfile, get, library, load_yaml

MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
# The oldest release the manifests are written for (the preStop `sleep` action is 1.30's),
# and the newest whose schemas the checker ships.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]


def validate(document: dict[str, Any], version: str) -> None:
    library("kubernetes_validate").validate(document, version, strict=True)


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in MANIFESTS:
        for document in load_yaml(path):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


@pytest.fixture(scope="module")
def deployment(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    return objects[("Deployment", "mltrail")]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(workload)["containers"]
    return dict(only)


class TestSchemas:
    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    @pytest.mark.parametrize("path", MANIFESTS, ids=[path.name for path in MANIFESTS])
    def test_valid(self, path: Path, version: str) -> None:
        for document in load_yaml(path):
            validate(document, version)

    def test_a_misspelled_field_fails(self, deployment: dict[str, Any]) -> None:
        kubernetes_validate = library("kubernetes_validate")
        broken = copy.deepcopy(deployment)
        probes = pod_spec(broken)["containers"][0]
        probes["readinesProbe"] = probes.pop("readinessProbe")
        with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
            kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)

    def test_the_expected_objects(self, objects: dict[tuple[str, str], Any]) -> None:
        assert set(objects) == {
            ("ConfigMap", "mltrail"),
            ("Deployment", "mltrail"),
            ("HorizontalPodAutoscaler", "mltrail"),
            ("Job", "mltrail-migrate"),
            ("PersistentVolumeClaim", "mltrail-artifacts"),
            ("PodDisruptionBudget", "mltrail"),
            ("Secret", "mltrail-database"),
            ("Service", "mltrail"),
        }


class TestDeployment:
    def test_three_replicas_rolling_without_losing_one(self, deployment: dict[str, Any]) -> None:
        assert deployment["spec"]["replicas"] == 3
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    def test_readiness_on_ready_liveness_on_health(self, deployment: dict[str, Any]) -> None:
        server = container(deployment)
        assert server["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert server["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert server["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}

    def test_runs_the_image_cmd_on_its_exposed_port(self, deployment: dict[str, Any]) -> None:
        dockerfile = Dockerfile(ROOT / "Dockerfile")
        server = container(deployment)
        assert server["command"] == dockerfile.cmd
        assert server["ports"] == [{"name": "http", "containerPort": 8000}]
        assert dockerfile.values(1, "EXPOSE") == ["8000"]

    def test_settings_come_from_the_config_map_and_the_secret(
        self, deployment: dict[str, Any], objects: dict[tuple[str, str], Any]
    ) -> None:
        server = container(deployment)
        (source,) = server["envFrom"]
        settings = objects[("ConfigMap", source["configMapRef"]["name"])]["data"]
        assert settings["AUTH_ENABLED"] == "true"
        assert settings["MIGRATE_ON_START"] == "false"
        assert settings["REDIS_URL"].startswith("redis://")
        (database,) = server["env"]
        reference = database["valueFrom"]["secretKeyRef"]
        assert database["name"] == "DATABASE_URL"
        secret = objects[("Secret", reference["name"])]
        assert reference["key"] in secret["stringData"]
        assert "CHANGE-ME" in secret["stringData"][reference["key"]]

    def test_artifacts_on_a_read_write_many_claim(
        self, deployment: dict[str, Any], objects: dict[tuple[str, str], Any]
    ) -> None:
        volumes = {volume["name"]: volume for volume in pod_spec(deployment)["volumes"]}
        mounts = {
            mount["mountPath"]: mount["name"] for mount in container(deployment)["volumeMounts"]
        }
        claim = volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
        assert objects[("PersistentVolumeClaim", claim)]["spec"]["accessModes"] == ["ReadWriteMany"]
        assert "emptyDir" in volumes[mounts["/tmp"]]


class TestEveryPod:
    @pytest.mark.parametrize("kind, name", [("Deployment", "mltrail"), ("Job", "mltrail-migrate")])
    def test_non_root_read_only_and_bounded(
        self, objects: dict[tuple[str, str], Any], kind: str, name: str
    ) -> None:
        workload = objects[(kind, name)]
        pod = pod_spec(workload)
        uid, _, gid = Dockerfile(ROOT / "Dockerfile").values(1, "USER")[0].partition(":")
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == int(uid)
        assert pod["securityContext"]["runAsGroup"] == int(gid)
        assert pod["automountServiceAccountToken"] is False
        only = container(workload)
        assert only["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        assert {"cpu", "memory"} <= set(only["resources"]["requests"])
        assert {"cpu", "memory"} <= set(only["resources"]["limits"])
        # A read-only root needs a writable /tmp.
        assert "/tmp" in {mount["mountPath"] for mount in only["volumeMounts"]}

    def test_job_and_server_run_the_same_image(self, objects: dict[tuple[str, str], Any]) -> None:
        job = container(objects[("Job", "mltrail-migrate")])
        assert job["image"] == container(objects[("Deployment", "mltrail")])["image"]
        assert job["command"] == ["mltrail", "db", "upgrade"]
        assert pod_spec(objects[("Job", "mltrail-migrate")])["restartPolicy"] == "Never"


class TestRouting:
    def test_service_selects_the_server_pods(
        self, objects: dict[tuple[str, str], Any], deployment: dict[str, Any]
    ) -> None:
        service = objects[("Service", "mltrail")]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        (port,) = service["spec"]["ports"]
        assert port["targetPort"] in {p["name"] for p in container(deployment)["ports"]}
        pdb = objects[("PodDisruptionBudget", "mltrail")]
        assert pdb["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]

    def test_autoscaler_scales_the_deployment_on_cpu(
        self, objects: dict[tuple[str, str], Any], deployment: dict[str, Any]
    ) -> None:
        hpa = objects[("HorizontalPodAutoscaler", "mltrail")]
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
        assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        # Utilization is relative to the request, so the container must have one.
        assert container(deployment)["resources"]["requests"]["cpu"]


class TestProbesOnALiveServer:
    """The probes' paths on the server that the image's CMD and the Job's command started
    with the ConfigMap's settings (AUTH_ENABLED=true): the kubelet sends no key."""

    @pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe", "readinessProbe"])
    def test_probe_answers_200_without_a_key(
        self, deployment: dict[str, Any], image_server: ImageServer, probe: str
    ) -> None:
        path = container(deployment)[probe]["httpGet"]["path"]
        assert get(f"{image_server.url}{path}").status_code == 200

    def test_auth_is_on_for_everything_else(self, image_server: ImageServer) -> None:
        assert get(f"{image_server.url}/api/v1/experiments").status_code == 401

    def test_readiness_reports_the_shared_cache(self, image_server: ImageServer) -> None:
        body = get(f"{image_server.url}/ready").json()
        assert body == {
            "status": "ready",
            "database": "ok",
            "cache": "ok",
            "cache_backend": "redis",
            "replica": "none",
        }
