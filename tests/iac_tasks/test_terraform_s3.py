"""The partial S3 backend config against the real terraform S3 backend, with moto (server mode, 127.0.0.1, free
port) standing in for S3/DynamoDB/STS: each stack's state of workspace {env} lands at {stack}/{env}/{stack}.tfstate
and the DynamoDB lock table is used."""

from __future__ import annotations

import boto3
import pytest

from ublog_ops.iac.terraform import TfStack

from .conftest import make_config


@pytest.fixture
def moto_s3(tf_repo, monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # terraform's S3 backend honours it too
        kw = {"endpoint_url": endpoint, "region_name": "eu-west-1"}
        s3, ddb = boto3.client("s3", **kw), boto3.client("dynamodb", **kw)
        s3.create_bucket(Bucket="acme-tf", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        ddb.create_table(
            TableName="acme-locks",
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for stack in ("base", "app"):
            (tf_repo["live"] / stack / "backend_override.tf").unlink()  # back to the module's `backend "s3" {}`
        yield s3, ddb
    finally:
        server.stop()


def test_state_layout_and_lock_table(tf_repo, moto_s3):
    s3, ddb = moto_s3
    ublog = {
        "iac": {
            "dir": tf_repo["ublog"]["iac"]["dir"],
            "plan_dir": tf_repo["ublog"]["iac"]["plan_dir"],
            "state_bucket": "acme-tf",
            "state_region": "eu-west-1",
            "lock_table": "acme-locks",
        }
    }
    for stack, env in (("base", "dev"), ("app", "alpha")):
        s = TfStack(make_config(ublog), stack, env)
        # moto serves buckets path-style only; everything else is exactly what `inv tf.init` passes.
        s.tf.init({**s.backend_config(), "use_path_style": "true"})
        assert s.tf.select_workspace(env) == "created"
        s.apply(s.plan())
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="acme-tf")["Contents"])
    assert keys == ["app/alpha/app.tfstate", "base/dev/base.tfstate"]
    lock_ids = {item["LockID"]["S"] for item in ddb.scan(TableName="acme-locks")["Items"]}
    assert "acme-tf/base/dev/base.tfstate-md5" in lock_ids  # the backend kept its state digest in the lock table
