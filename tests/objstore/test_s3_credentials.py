"""S3 credentials from the AWS shared files: with no keys in the environment, a server whose
ARTIFACT_ROOT is `s3://` signs with the keys of AWS_PROFILE in AWS_SHARED_CREDENTIALS_FILE,
as the AWS tools do. The moto_server here checks signatures against its IAM users (after the
few unsigned calls that create the user), so a request signed with any other key fails."""

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.objstore.s3 import Moto, start_and_wait_for_exit
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

boto3: Any = require_module("boto3", "the test makes its IAM user and bucket with it")

# create_user, put_user_policy, create_access_key: the calls before signatures are checked.
UNSIGNED_SETUP_CALLS = 3
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def signed_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Moto, dict[str, str]]]:
    """A moto_server that checks signatures, with an IAM user allowed everything on S3;
    yields it with that user's key and a bucket the key created."""
    moto = Moto(tmp_path_factory.mktemp("signed-moto") / "moto.log")
    moto.start()
    try:
        # From here, only the setup calls go unsigned (moto's own switch, counted from now).
        httpx.post(
            f"{moto.url}/moto-api/reset-auth", content=str(UNSIGNED_SETUP_CALLS), timeout=10
        ).raise_for_status()
        iam = boto3.client(
            "iam",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="tracker")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="tracker", PolicyName="s3", PolicyDocument=json.dumps(policy))
        created = iam.create_access_key(UserName="tracker")["AccessKey"]
        key = {"id": created["AccessKeyId"], "secret": created["SecretAccessKey"]}
        bucket = f"t-{uuid.uuid4().hex[:12]}"
        _s3(moto, key).create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield moto, {**key, "bucket": bucket}
    finally:
        moto.stop()


def _s3(moto: Moto, key: dict[str, str]) -> object:
    return boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name=REGION,
        aws_access_key_id=key["id"],
        aws_secret_access_key=key["secret"],
    )


def _shared_files(directory: Path, key_id: str, secret: str) -> dict[str, str]:
    """The files `aws configure --profile tracker` writes, and the variables naming them."""
    credentials = directory / "credentials"
    credentials.write_text(
        f"[tracker]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    )
    config = directory / "config"
    config.write_text(f"[profile tracker]\nregion = {REGION}\n")
    return {
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_CONFIG_FILE": str(config),
        "AWS_PROFILE": "tracker",
    }


@pytest.fixture(autouse=True)
def _no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)


def _server_env(moto: Moto, bucket: str, files: dict[str, str]) -> dict[str, str]:
    return {
        **files,
        "ARTIFACT_ROOT": f"s3://{bucket}/team",
        "ARTIFACT_S3_ENDPOINT_URL": moto.url,
        "AUTH_ENABLED": "false",
    }


def test_a_profile_in_the_shared_files_signs_the_servers_requests(
    tmp_path: Path, signed_moto: tuple[Moto, dict[str, str]]
) -> None:
    moto, key = signed_moto
    files = _shared_files(tmp_path, key["id"], key["secret"])
    live = LiveServer(tmp_path / "server", _server_env(moto, key["bucket"], files))
    (tmp_path / "server").mkdir()
    live.start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            experiment = http.post(
                "/api/v1/experiments",
                json={"name": f"profile-{uuid.uuid4().hex[:8]}", "owner": "tests"},
            ).json()
            run = http.post(f"/api/v1/experiments/{experiment['id']}/runs", json={}).json()
            put = http.put(f"/api/v1/runs/{run['id']}/artifacts/a.txt", content=b"signed")
            assert put.status_code == 201, put.text
            got = http.get(f"/api/v1/runs/{run['id']}/artifacts/a.txt")
            assert got.status_code == 200
            assert got.content == b"signed"
    finally:
        live.stop()
    listed = _s3(moto, key).list_objects_v2(Bucket=key["bucket"])  # type: ignore[attr-defined]
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert any(name.endswith(f"{uuid.UUID(run['id']).hex}/artifacts/a.txt") for name in keys)


def test_a_profile_whose_key_the_store_refuses_stops_the_start(
    tmp_path: Path, signed_moto: tuple[Moto, dict[str, str]]
) -> None:
    moto, key = signed_moto
    files = _shared_files(tmp_path, key["id"], "not-the-secret")
    code, log = start_and_wait_for_exit(tmp_path, _server_env(moto, key["bucket"], files), keys={})
    assert code != 0
    assert f"ARTIFACT_ROOT=s3://{key['bucket']}/team: the store cannot be reached" in log


def test_a_profile_that_is_not_in_the_files_is_named_at_start(
    tmp_path: Path, signed_moto: tuple[Moto, dict[str, str]]
) -> None:
    moto, key = signed_moto
    files = {**_shared_files(tmp_path, key["id"], key["secret"]), "AWS_PROFILE": "nobody"}
    code, log = start_and_wait_for_exit(tmp_path, _server_env(moto, key["bucket"], files), keys={})
    assert code != 0
    assert "AWS_PROFILE=nobody" in log
    assert "Traceback" not in log
