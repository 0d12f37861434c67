"""Artifact throughput through a proxy to S3: our server and `mlflow server
--serve-artifacts`, both in front of the same S3 endpoint (moto_server on loopback, a bucket
each under its own prefix), in one run. One file of `--size-mb` goes up with a streamed PUT
to `/api/2.0/mlflow-artifacts/artifacts/...` (the path the mlflow client uses, which both
servers serve) and comes back with a streamed GET; the download is checked byte for byte.
Then the same file goes up and down with the official mlflow client (`log_artifact`,
`download_artifacts`), as a user sends a large file: in parts through `mlflow-artifacts/mpu`
(both servers hand out presigned part URLs of the bucket; ours with ARTIFACT_PRESIGNED_UPLOADS
at its default) and back in presigned ranges (ours with ARTIFACT_PRESIGNED_DOWNLOADS=true, as
MLflow's server offers them on S3). The client's thresholds are lowered to 5 MiB so a small
`--size-mb` takes that path too; the part sizes are the client's defaults.
Prints MB/s for each side, the ratio ours / MLflow, and the peak memory (VmHWM) of each
server's processes, which shows whether a file sat in memory.

    .venv/bin/python bench/artifact_throughput.py               # 1 GB (1024 MiB)
    .venv/bin/python bench/artifact_throughput.py --size-mb 128 # quicker

Needs no PostgreSQL (both servers use a temporary SQLite file). The first run creates
bench/.venv-mlflow (the pinned mlflow, plus boto3 for its S3 artifact repository). moto
keeps objects in memory: a 1 GB run holds 2 GB in moto's process. Writes
bench/results/artifacts-<time>.json (and artifacts-latest.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

BOTO3 = "boto3==1.44.5"
BLOCK = 8 * 1024 * 1024
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
TIMEOUT = httpx.Timeout(600.0, connect=10.0)


def make_file(path: Path, size: int) -> str:
    """A file of `size` random-ish bytes (a random block repeated with a counter); its sha256."""
    digest = hashlib.sha256()
    seed = os.urandom(BLOCK)
    with path.open("wb") as out:
        written, counter = 0, 0
        while written < size:
            block = (counter.to_bytes(8, "big") + seed)[: min(BLOCK, size - written)]
            out.write(block)
            digest.update(block)
            written += len(block)
            counter += 1
    return digest.hexdigest()


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(BLOCK):
            yield chunk


def peak_memory_mb(pids: list[int]) -> float:
    """The sum of the processes' peak resident sizes (VmHWM), in MiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def ensure_boto3(mlflow_bin: Path) -> None:
    python = mlflow_bin.parent / "python"
    found = subprocess.run([str(python), "-c", "import boto3"], capture_output=True)
    if found.returncode != 0:
        h.log(f"installing {BOTO3} into {h.MLFLOW_VENV.name} (MLflow's S3 repository needs it)")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", BOTO3], check=True)


def start_moto(workdir: Path) -> h.Server:
    moto_bin = Path(sys.executable).parent / "moto_server"
    if not moto_bin.exists():
        found = shutil.which("moto_server")
        if found is None:
            raise SystemExit("moto_server not found: `make install-dev` installs moto[server]")
        moto_bin = Path(found)
    port = h.free_port()
    server = h.Server(
        "moto",
        [str(moto_bin), "-H", "127.0.0.1", "-p", str(port)],
        CREDENTIALS,
        port,
        workdir / "moto.log",
        health_path="/",
    )
    server.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(server.base_url, timeout=2)
            return server
        except httpx.TransportError:
            time.sleep(0.2)
    raise TimeoutError(f"moto_server did not answer; see {server.log_path}")


def start_ours(workdir: Path, s3_url: str, bucket: str, proxied_uploads: bool) -> h.Server:
    port = h.free_port()
    env = {
        **CREDENTIALS,
        "DATABASE_URL": f"sqlite:///{workdir / 'ours.db'}",
        "DATA_DIR": str(workdir / "ours"),
        "REDIS_URL": "",
        "AUTH_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "ARTIFACT_ROOT": f"s3://{bucket}/ours",
        "ARTIFACT_S3_ENDPOINT_URL": s3_url,
        "ARTIFACT_MAX_BYTES": str(64 * 1024**3),
        "MAX_BODY_BYTES": str(64 * 1024**3),
        "ARTIFACT_PRESIGNED_DOWNLOADS": "true",
        "ARTIFACT_PRESIGNED_UPLOADS": "false" if proxied_uploads else "true",
    }
    command = [str(h.OUR_VENV / "bin" / "python"), "-m", "uvicorn", "mltrail_server.main:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    server = h.Server("ours", command, env, port, workdir / "ours.log")
    server.start()
    server.wait_ready()
    return server


def start_mlflow(workdir: Path, s3_url: str, bucket: str, mlflow_bin: Path) -> h.Server:
    port = h.free_port()
    env = {**CREDENTIALS, "MLFLOW_S3_ENDPOINT_URL": s3_url}
    command = [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}"]
    command += ["--artifacts-destination", f"s3://{bucket}/mlflow", "--serve-artifacts"]
    command += ["--workers", "1"]
    server = h.Server("mlflow", command, env, port, workdir / "mlflow.log")
    server.start()
    server.wait_ready()
    return server


def artifact_path(client: httpx.Client) -> str:
    """A new experiment and run through MLflow's REST API (both servers speak it); the run's
    artifact folder as the proxied-artifact path."""
    name = f"artifact-bench-{h.rand_suffix()}"
    created = client.post("/api/2.0/mlflow/experiments/create", json={"name": name})
    created.raise_for_status()
    run = client.post(
        "/api/2.0/mlflow/runs/create", json={"experiment_id": created.json()["experiment_id"]}
    )
    run.raise_for_status()
    uri: str = run.json()["run"]["info"]["artifact_uri"]
    return uri.removeprefix("mlflow-artifacts:").lstrip("/")


def measure(server: h.Server, source: Path, size: int, expected: str) -> dict[str, float]:
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as client:
        url = f"/api/2.0/mlflow-artifacts/artifacts/{artifact_path(client)}/big.bin"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        started = time.perf_counter()
        put = client.put(url, content=file_chunks(source), headers=headers)
        upload = time.perf_counter() - started
        put.raise_for_status()
        digest = hashlib.sha256()
        received = 0
        started = time.perf_counter()
        with client.stream("GET", url) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(1024 * 1024):
                digest.update(chunk)
                received += len(chunk)
        download = time.perf_counter() - started
    if received != size or digest.hexdigest() != expected:
        raise RuntimeError(f"{server.name}: the download differs from the upload")
    mib = size / 1024**2
    return {
        "upload_s": upload,
        "download_s": download,
        "upload_mb_s": mib / upload,
        "download_mb_s": mib / download,
        "peak_rss_mb": peak_memory_mb(server.pids()),
    }


CLIENT_ENV = {
    "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(5 * 1024**2),
    "MLFLOW_MULTIPART_DOWNLOAD_MINIMUM_FILE_SIZE": str(5 * 1024**2),
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def measure_client(server: h.Server, source: Path, size: int, expected: str) -> dict[str, float]:
    """log_artifact and download_artifacts of the official client (this venv's mlflow)."""
    os.environ.update(CLIENT_ENV)
    os.environ["MLFLOW_TRACKING_URI"] = server.base_url
    import mlflow
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    mlflow.set_tracking_uri(server.base_url)
    client = mlflow.MlflowClient(server.base_url)
    experiment = client.create_experiment(f"artifact-bench-client-{h.rand_suffix()}")
    run = client.create_run(experiment)
    parts: list[int] = []
    spent = {"create_s": 0.0, "complete_s": 0.0}  # the server's share: start and join
    real_create = HttpArtifactRepository.create_multipart_upload
    real_complete = HttpArtifactRepository.complete_multipart_upload

    def counting_create(repo: object, local_file: str, num_parts: int = 1, *rest: object) -> object:
        parts.append(num_parts)
        started = time.perf_counter()
        try:
            return real_create(repo, local_file, num_parts, *rest)  # type: ignore[arg-type]
        finally:
            spent["create_s"] += time.perf_counter() - started

    def timed_complete(repo: object, *args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return real_complete(repo, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            spent["complete_s"] += time.perf_counter() - started

    HttpArtifactRepository.create_multipart_upload = counting_create  # type: ignore[method-assign]
    HttpArtifactRepository.complete_multipart_upload = timed_complete  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        client.log_artifact(run.info.run_id, str(source))
        upload = time.perf_counter() - started
    finally:
        HttpArtifactRepository.create_multipart_upload = real_create  # type: ignore[method-assign]
        HttpArtifactRepository.complete_multipart_upload = real_complete  # type: ignore[method-assign]
    if not parts:
        raise RuntimeError(f"{server.name}: the client did not upload in parts")
    with tempfile.TemporaryDirectory(prefix="artifact-bench-back-") as back:
        started = time.perf_counter()
        local = client.download_artifacts(run.info.run_id, source.name, back)
        download = time.perf_counter() - started
        digest = hashlib.sha256()
        with open(local, "rb") as received:
            while chunk := received.read(BLOCK):
                digest.update(chunk)
    if digest.hexdigest() != expected:
        raise RuntimeError(f"{server.name}: the client's download differs from the upload")
    mib = size / 1024**2
    return {
        "parts": float(parts[0]),
        **spent,
        "upload_s": upload,
        "download_s": download,
        "upload_mb_s": mib / upload,
        "download_mb_s": mib / download,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB")
    parser.add_argument(
        "--proxied-uploads",
        action="store_true",
        help="ours with ARTIFACT_PRESIGNED_UPLOADS=false: the client's parts through our server",
    )
    parser.add_argument(
        "--mlflow-first",
        action="store_true",
        help="MLflow's side first in each pair (to see what the order costs)",
    )
    args = parser.parse_args()
    size = args.size_mb * 1024**2
    mlflow_bin = h.ensure_mlflow_venv()
    ensure_boto3(mlflow_bin)
    results: dict[str, object] = {
        "size_mb": args.size_mb,
        "ours_uploads": "proxied" if args.proxied_uploads else "presigned",
    }
    with tempfile.TemporaryDirectory(prefix="artifact-bench-") as temporary:
        workdir = Path(temporary)
        source = workdir / "big.bin"
        h.log(f"writing a {args.size_mb} MiB file")
        expected = make_file(source, size)
        servers: list[h.Server] = []
        try:
            moto = start_moto(workdir)
            servers.append(moto)
            bucket = f"bench-{h.rand_suffix()}"
            httpx.put(f"{moto.base_url}/{bucket}", timeout=30).raise_for_status()
            ours = start_ours(workdir, moto.base_url, bucket, args.proxied_uploads)
            servers.append(ours)
            mlflow = start_mlflow(workdir, moto.base_url, bucket, mlflow_bin)
            servers.append(mlflow)
            order = (mlflow, ours) if args.mlflow_first else (ours, mlflow)
            for server in order:
                h.log(f"{server.name}: upload and download of {args.size_mb} MiB")
                results[server.name] = measure(server, source, size, expected)
            for server in order:
                h.log(f"{server.name}: the mlflow client's multipart upload and download")
                results[f"{server.name}_client"] = measure_client(server, source, size, expected)
        finally:
            for server in reversed(servers):
                server.stop()
    ours_r, mlflow_r = results["ours"], results["mlflow"]
    assert isinstance(ours_r, dict) and isinstance(mlflow_r, dict)
    print(f"\n{args.size_mb} MiB through the proxy to S3 (moto on loopback)")
    print(f"{'':>10} {'ours':>10} {'MLflow':>10} {'ours/MLflow':>12}")
    for key, label in (("upload_mb_s", "up MB/s"), ("download_mb_s", "down MB/s")):
        ratio = ours_r[key] / mlflow_r[key]
        results[f"{key}_ratio"] = ratio
        print(f"{label:>10} {ours_r[key]:>10.1f} {mlflow_r[key]:>10.1f} {ratio:>12.2f}")
    print(f"{'peak MiB':>10} {ours_r['peak_rss_mb']:>10.0f} {mlflow_r['peak_rss_mb']:>10.0f}")
    ours_c, mlflow_c = results["ours_client"], results["mlflow_client"]
    assert isinstance(ours_c, dict) and isinstance(mlflow_c, dict)
    print(
        f"\nthe mlflow client ({ours_c['parts']:.0f} parts up, presigned ranges down; "
        f"ours: parts {results['ours_uploads']})"
    )
    print(f"{'':>10} {'ours':>10} {'MLflow':>10} {'ours/MLflow':>12}")
    for key, label in (("upload_mb_s", "up MB/s"), ("download_mb_s", "down MB/s")):
        ratio = ours_c[key] / mlflow_c[key]
        results[f"client_{key}_ratio"] = ratio
        print(f"{label:>10} {ours_c[key]:>10.1f} {mlflow_c[key]:>10.1f} {ratio:>12.2f}")
    for key, label in (("create_s", "create s"), ("complete_s", "complete s")):
        print(f"{label:>10} {ours_c[key]:>10.2f} {mlflow_c[key]:>10.2f}")
    h.RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = json.dumps(results, indent=2)
    for name in (f"artifacts-{stamp}.json", "artifacts-latest.json"):
        (h.RESULTS_DIR / name).write_text(text)


if __name__ == "__main__":
    main()
