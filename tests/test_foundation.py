"""Foundation promises: `inv --list` does not import boto3; the pinned invoke and fabric work together."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_task_tree_loads_without_boto3_or_moto():
    code = "import sys, tasks; print(sorted(m for m in ('boto3', 'botocore', 'moto') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_inv_list_shows_every_collection():
    inv = Path(sys.executable).with_name("inv")
    proc = subprocess.run([str(inv), "--list"], cwd=ROOT, capture_output=True, text=True, check=True)
    for task in (
        "sandbox.up",
        "sandbox.down",
        "sandbox.status",
        "sandbox.reset",
        "app.update",
        "app.plan",
        "app.apply",
        "app.status",
        "tf.plan",
        "pulumi.preview",
        "cdk.synth",
        "runbook.run",
        "demo",
    ):
        assert task in proc.stdout


def test_fabric_connection_works_with_the_pinned_invoke():
    import invoke
    from fabric import Config, Connection

    conn = Connection("127.0.0.1", user="ops", port=2222, config=Config())
    assert (conn.host, conn.user, conn.port) == ("127.0.0.1", "ops", 2222)
    assert isinstance(conn, invoke.Context)  # fabric's Connection is an invoke Context: tasks can take either
    major = int(invoke.__version__.split(".")[0])
    assert major >= 2
