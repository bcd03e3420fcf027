"""`inv app.update / plan / apply / rollback` end to end: the real task tree (Invoke's Program, in process) against
the sandbox, checked through plain boto3 — what runs afterwards, what was registered, what was printed."""

from __future__ import annotations

import json

import pytest
from invoke import Program

from ublog_ops.naming import SERVICES
from ublog_ops.sandbox.behaviour import TAG_PULL_ERROR, TAG_STALL

ENV = "alpha"
FAST = ["--poll-interval", "0.2"]


def inv(argv, capsys):
    from tasks import ns

    program = Program(namespace=ns, name="inv", binary="inv")
    code = 0
    try:
        program.run(["inv", *argv])
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def services(ecs):
    described = ecs.describe_services(cluster=f"{ENV}-cluster", services=[f"{ENV}-{s}" for s in SERVICES])
    return {s["serviceName"]: s for s in described["services"]}


def tags(ecs):
    result = {}
    for name, svc in services(ecs).items():
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        result[name] = td["containerDefinitions"][0]["image"].rsplit(":", 1)[1]
    return result


def revisions(ecs):
    arns = []
    for fam in [*SERVICES, "backend_update"]:
        arns += ecs.list_task_definitions(familyPrefix=f"{ENV}-{fam}", status="ALL")["taskDefinitionArns"]
    return set(arns)


def secret_values(ecs):
    """Every environment value of every seeded task definition (the things we must never print)."""
    values = set()
    for arn in revisions(ecs):
        td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        for cdef in td["containerDefinitions"]:
            values |= {e["value"] for e in cdef.get("environment", []) if len(e["value"]) > 3}
            values |= {s["valueFrom"] for s in cdef.get("secrets", [])}
    return values


def test_healthy_update_rolls_every_service_and_keeps_desired_counts(sandbox, capsys, tmp_path, monkeypatch):
    ecs = sandbox.client("ecs")
    ecs.update_service(cluster=f"{ENV}-cluster", service=f"{ENV}-default", desiredCount=2)
    ecs.update_service(cluster=f"{ENV}-cluster", service=f"{ENV}-beat", desiredCount=0)
    monkeypatch.setenv("UBLOG_DESIRED_COUNT_BEAT", "1")
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    before = services(ecs)
    hidden = secret_values(ecs)

    code, out, err = inv(["app.update", "--env", ENV, "--tag", "v1.2.3", *FAST], capsys)

    assert code == 0, err
    after = services(ecs)
    assert set(tags(ecs).values()) == {"v1.2.3"}
    for name, svc in after.items():
        assert svc["taskDefinition"] != before[name]["taskDefinition"]
        assert len(svc["deployments"]) == 1 and svc["deployments"][0]["rolloutState"] == "COMPLETED"
    assert after[f"{ENV}-default"]["desiredCount"] == 2  # kept (> 0)
    assert after[f"{ENV}-beat"]["desiredCount"] == 1  # from config (was 0)
    assert "Applying blog.0002_post_summary... OK" in out  # pre-update logs streamed
    assert "succeeded (exit 0)" in out
    text = out + err + summary.read_text() + outputs.read_text()
    for value in hidden:
        assert value not in text
    assert "outcome=succeeded" in outputs.read_text()
    assert "inv app.rollback --env alpha --to alpha-gunicorn:" in summary.read_text()


def test_failed_migration_exits_4_and_touches_no_service(sandbox, capsys):
    ecs = sandbox.client("ecs")
    before = services(ecs)

    code, out, err = inv(["app.update", "--env", ENV, "--tag", "v1.3.0-migrate-fails", *FAST], capsys)

    assert code == 4
    assert "exit code 3" in err or "exited 3" in err or "exit 3" in err
    for line in (
        "Applying blog.0003_post_slug_unique",
        "DETAIL:  Key (slug)=(hello-world) is duplicated.",
        "Pre-update failed: migrate exited with status 3",
    ):
        assert line in out
    assert "app.rollback" not in out + err  # nothing to roll back: no service was touched
    after = services(ecs)
    for name, svc in after.items():  # no UpdateService: same task definition, still one deployment
        assert svc["taskDefinition"] == before[name]["taskDefinition"]
        assert [d["id"] for d in svc["deployments"]] == [d["id"] for d in before[name]["deployments"]]


def test_pre_update_that_cannot_start_exits_4_with_the_reason(sandbox, capsys):
    code, _out, err = inv(["app.update", "--env", ENV, "--tag", TAG_PULL_ERROR, *FAST], capsys)
    assert code == 4
    assert "CannotPullContainerError" in err
    assert set(tags(sandbox.client("ecs")).values()) == {"v1.2.2"}


def test_crash_loop_is_rolled_back_everywhere_exit_5(sandbox, capsys):
    ecs = sandbox.client("ecs")
    before = services(ecs)
    known = revisions(ecs)

    code, out, err = inv(["app.update", "--env", ENV, "--tag", "v1.3.0-crashloop", "--json", *FAST], capsys)

    assert code == 5, err
    for value in secret_values(ecs):  # the --json record and the progress on stderr carry no values
        assert value not in out + err
    record = json.loads(out)
    assert record["outcome"] == "rolled back"
    after = services(ecs)
    for name, svc in after.items():
        assert svc["taskDefinition"] == before[name]["taskDefinition"]
    assert known <= revisions(ecs)  # nothing deregistered
    for arn in known:
        assert ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"] == "ACTIVE"
    states = {s["service"]: s for s in record["services"].values()}
    assert any(s["state"] in ("ROLLED_BACK_BY_ECS", "FAILED") for s in states.values())
    assert all(s["rollback_state"] == "COMPLETED" for s in states.values())


def test_crash_loop_with_no_rollback_exits_6(sandbox, capsys):
    code, _out, err = inv(["app.update", "--env", ENV, "--tag", "v1.3.0-crashloop", "--no-rollback", *FAST], capsys)
    assert code == 6
    assert "inv app.rollback --env alpha --to" in err


def test_stall_times_out_with_events(sandbox, capsys):
    code, out, err = inv(
        ["app.update", "--env", ENV, "--tag", TAG_STALL, "--stall-timeout", "2", "--no-rollback", *FAST], capsys
    )
    assert code == 6
    assert "STALLED" in out + err
    assert "has started" in out  # service events were shown while waiting


def test_plan_then_apply_and_drift_refused(sandbox, capsys, tmp_path):
    ecs = sandbox.client("ecs")
    plan_file = tmp_path / "release.json"
    code, _out, err = inv(["app.plan", "--env", ENV, "--tag", "v1.2.3", "--out", str(plan_file)], capsys)
    assert code == 0, err
    assert plan_file.is_file()
    assert set(tags(ecs).values()) == {"v1.2.2"}  # planning changed nothing

    # drift: somebody registers a newer gunicorn revision after the plan was made
    current = ecs.describe_task_definition(taskDefinition=f"{ENV}-gunicorn")["taskDefinition"]
    keep = (
        "family",
        "containerDefinitions",
        "cpu",
        "memory",
        "networkMode",
        "requiresCompatibilities",
        "executionRoleArn",
        "taskRoleArn",
    )
    ecs.register_task_definition(**{k: current[k] for k in keep if k in current})
    code, _out, err = inv(["app.apply", str(plan_file), *FAST], capsys)
    assert code == 3
    assert "gunicorn" in err
    assert set(tags(ecs).values()) == {"v1.2.2"}


def test_plan_then_apply_carries_out_the_plan(sandbox, capsys, tmp_path):
    plan_file = tmp_path / "release.json"
    assert inv(["app.plan", "--env", ENV, "--tag", "v1.2.4", "--out", str(plan_file)], capsys)[0] == 0
    code, _out, err = inv(["app.apply", str(plan_file), *FAST], capsys)
    assert code == 0, err
    assert set(tags(sandbox.client("ecs")).values()) == {"v1.2.4"}


def test_second_deploy_refused_while_lock_held(sandbox, capsys):
    from ublog_ops.lock import DeployLock

    lock = DeployLock(sandbox.client("dynamodb"), sandbox.names.deploy_lock_table, ENV, owner="ci-run-42")
    lock.acquire()
    code, _out, err = inv(["app.update", "--env", ENV, "--tag", "v1.2.3", *FAST], capsys)
    assert code == 3
    assert "ci-run-42" in err
    assert set(tags(sandbox.client("ecs")).values()) == {"v1.2.2"}


def test_manual_rollback_command_restores_previous_revisions(sandbox, capsys):
    ecs = sandbox.client("ecs")
    before = services(ecs)
    code, out, _err = inv(["app.update", "--env", ENV, "--tag", "v1.2.3", "--json", *FAST], capsys)
    assert code == 0
    command = json.loads(out)["rollback_command"].split()
    assert command[:2] == ["inv", "app.rollback"]
    code, _out, err = inv([*command[1:], *FAST], capsys)
    assert code == 0, err
    assert {n: s["taskDefinition"] for n, s in services(ecs).items()} == {
        n: s["taskDefinition"] for n, s in before.items()
    }


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["app.update", "--env", "Bad_Env", "--tag", "v1"], "invalid env"),
        (["app.update", "--env", ENV, "--tag", "bad tag!"], "invalid image tag"),
        (["app.update", "--env", ENV], "no image tag"),
        (["app.rollback", "--env", ENV, "--to", "beta-gunicorn:3"], "not a service family"),
    ],
)
def test_bad_input_exits_2_before_any_change(sandbox, capsys, argv, needle):
    before = services(sandbox.client("ecs"))
    code, _out, err = inv(argv, capsys)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err
    assert services(sandbox.client("ecs")) == before


def test_plan_writes_step_summary_and_outputs_without_values(sandbox, capsys, tmp_path, monkeypatch):
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    hidden = secret_values(sandbox.client("ecs"))
    code, _out, err = inv(["app.plan", "--env", ENV, "--tag", "v1.2.3", "--out", str(tmp_path / "r.json")], capsys)
    assert code == 0, err
    text = summary.read_text()
    assert "### Release plan: v1.2.3 → alpha" in text
    assert "alpha-gunicorn" in text
    assert "backend-digest=sha256:" in outputs.read_text()
    for value in hidden:
        assert value not in text + (tmp_path / "r.json").read_text()
