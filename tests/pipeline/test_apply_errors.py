"""apply_plan when AWS fails mid-run: exactly the services already updated are rolled back, and the record says
what happened (library level, real boto3 against the sandbox)."""

import os

import pytest

from ublog_ops.aws import Aws
from ublog_ops.config import load_config
from ublog_ops.errors import ExitStatus
from ublog_ops.pipeline import ApplyOptions, apply_plan
from ublog_ops.plan import make_plan

CLUSTER = "alpha-cluster"


@pytest.fixture
def cfg(sandbox):
    return load_config({}, {"env": "alpha", "rollout.poll_interval": 0.2}, environ=os.environ, dotenv_path=None)


def running(ecs):
    names = [f"alpha-{s}" for s in ("gunicorn", "default", "beat")]
    return {
        s["serviceName"]: s["taskDefinition"]
        for s in ecs.describe_services(cluster=CLUSTER, services=names)["services"]
    }


def test_update_service_failure_rolls_back_exactly_the_updated_services(sandbox, cfg):
    ecs = sandbox.client("ecs")
    before = running(ecs)
    aws = Aws()
    plan = make_plan(aws, cfg, "v1.2.3")

    def say(text):  # web-ui disappears between the drift check and its UpdateService call
        if text.startswith("updating "):
            ecs.delete_service(cluster=CLUSTER, service="alpha-web-ui", force=True)

    record = apply_plan(aws, cfg, plan, ApplyOptions.from_config(cfg), say=say)

    assert record.status == ExitStatus.ROLLED_BACK, record.message
    assert "alpha-web-ui" in record.message
    assert record.services["web-ui"].state == "NOT_STARTED"
    assert record.services["web-ui"].new_task_definition is None
    assert {record.services[n].rollback_state for n in ("gunicorn", "default", "beat")} == {"COMPLETED"}
    assert running(ecs) == before
    assert "alpha-web-ui" not in (record.rollback_command() or "")


def test_update_service_failure_with_no_rollback_exits_6_and_names_the_command(sandbox, cfg):
    ecs = sandbox.client("ecs")
    aws = Aws()
    plan = make_plan(aws, cfg, "v1.2.3")

    def say(text):
        if text.startswith("updating "):
            ecs.delete_service(cluster=CLUSTER, service="alpha-web-ui", force=True)

    options = ApplyOptions.from_config(cfg, rollback=False)
    record = apply_plan(aws, cfg, plan, options, say=say)
    assert record.status == ExitStatus.NOT_ROLLED_BACK
    assert record.hint.startswith("roll back with: inv app.rollback --env alpha --to alpha-gunicorn:1")


def test_unexpected_error_is_recorded_with_the_rollback_command_and_the_lock_released(sandbox, cfg):
    aws = Aws()
    plan = make_plan(aws, cfg, "v1.2.3")

    def boom(statuses):
        raise ConnectionError("network went away")

    record = apply_plan(aws, cfg, plan, ApplyOptions.from_config(cfg), on_poll=boom)
    assert record.status == ExitStatus.ERROR
    assert "network went away" in record.message
    assert "inv app.rollback --env alpha --to alpha-gunicorn:1" in record.hint
    assert isinstance(record.error().__cause__, ConnectionError)
    lock_item = sandbox.client("dynamodb").get_item(
        TableName=sandbox.names.deploy_lock_table, Key={"LockID": {"S": "ublog-ops/deploy/alpha"}}
    )
    assert "Item" not in lock_item  # released despite the error


def test_ctrl_c_during_pre_update_stops_the_task_and_touches_no_service(sandbox, cfg):
    ecs = sandbox.client("ecs")
    before = running(ecs)
    aws = Aws()
    plan = make_plan(aws, cfg, "v1.2.3")

    def on_line(line):
        if "Collecting static files" in line:
            raise KeyboardInterrupt

    record = apply_plan(aws, cfg, plan, ApplyOptions.from_config(cfg), on_line=on_line)
    assert record.status == ExitStatus.INTERRUPTED
    assert record.hint == "no service was touched"
    assert record.pre_update is not None and record.pre_update.task_id
    task = ecs.describe_tasks(cluster=CLUSTER, tasks=[record.pre_update.task_id])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"
    assert task["stopCode"] == "UserInitiated"
    assert running(ecs) == before
