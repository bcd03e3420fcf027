"""The Terraform wrapper and `inv tf.*` against the real terraform binary (fixture modules of terraform_data only,
local backend override), plus the stateful gate on a recorded `terraform show -json` plan of an RDS replacement."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ublog_ops.errors import ConfigError, ExitStatus, RefusedError
from ublog_ops.iac import gate
from ublog_ops.iac.runner import ToolFailed
from ublog_ops.iac.terraform import Terraform, TfStack, s3_backend_config, summarize
from ublog_ops.tasks import iac_terraform

from .conftest import FIXTURES, make_config, run_task

RECORDED = FIXTURES / "plans" / "tf_rds_replace.json"


def state_resources(states: Path, stack: str, env: str) -> list[str]:
    state = json.loads((states / stack / env / "terraform.tfstate").read_text())
    out = []
    for r in state["resources"]:
        for inst in r["instances"]:
            idx = inst.get("index_key")
            out.append(f"{r['type']}.{r['name']}" + (f"[{idx}]" if idx is not None else ""))
    return sorted(out)


def stack(tf_repo, name="base", env="dev", **kw) -> TfStack:
    return TfStack(make_config(tf_repo["ublog"]), name, env, terraform=None, **kw)


# --- library against the real binary --------------------------------------------------------------------------


def test_init_creates_then_selects_the_env_workspace(tf_repo):
    s = stack(tf_repo)
    assert s.init() == "created"
    assert "dev" in s.tf.workspaces()
    assert s.tf.current_workspace() == "dev"
    assert s.init() == "selected"


def test_plan_writes_plan_file_and_counts_then_apply_uses_exactly_it(tf_repo):
    s = stack(tf_repo)
    s.init()
    summary = s.plan()
    assert s.plan_file.is_file() and s.plan_file.parent == tf_repo["plans"]
    assert summary.counts == {"create": 4, "update": 0, "replace": 0, "destroy": 0}
    assert {c.address for c in summary.changes} == {
        "terraform_data.network",
        "terraform_data.slot[0]",
        "terraform_data.slot[1]",
        "terraform_data.database",
    }
    assert "terraform_data.database will be created" in summary.text
    side = json.loads(s.sidecar.read_text())
    assert side["plan"]["env"] == "dev" and side["plan"]["stack"] == "base" and len(side["plan"]["sha256"]) == 64

    reviewed = stack(tf_repo)
    reviewed.init(create_workspace=False)
    applied = reviewed.reviewed_plan(allow_destroy=False)
    assert applied.counts["create"] == 4
    assert reviewed.apply(applied) is not None
    assert state_resources(tf_repo["states"], "base", "dev") == [
        "terraform_data.database",
        "terraform_data.network",
        "terraform_data.slot[0]",
        "terraform_data.slot[1]",
    ]
    assert not s.plan_file.exists(), "an applied plan must not be applyable twice"

    again = stack(tf_repo)
    again.init()
    assert not again.plan().has_changes


def test_replace_and_destroy_are_counted(tf_repo):
    s = stack(tf_repo)
    s.init()
    s.apply(s.plan())
    s.var_file.write_text('env = "dev"\nsize = 1\n')
    (s.workdir / "gen.auto.tfvars").write_text('generation = "2"\n')
    summary = s.plan()
    assert summary.counts == {"create": 0, "update": 0, "replace": 1, "destroy": 1}
    by = {c.address: c for c in summary.changes}
    assert by["terraform_data.slot[1]"].action == "destroy"
    assert by["terraform_data.database"].action == "replace"
    assert "triggers_replace" in by["terraform_data.database"].detail


def test_detailed_exit_codes(tf_repo):
    tf = Terraform(tf_repo["live"] / "base", stream=False)
    tf.init({"workspace_dir": str(tf_repo["states"])})
    tf.select_workspace("dev")
    plan = tf_repo["root"] / "p.tfplan"
    var = tf_repo["live"] / "base" / "envs" / "dev.tfvars"
    assert tf.plan(plan, var_files=[var]) is True  # exit 2: changes
    tf.apply(plan)
    assert tf.plan(plan, var_files=[var]) is False  # exit 0: none
    (tf_repo["live"] / "base" / "broken.tf").write_text('resource "terraform_data" "x" {\n  input = var.nope\n}\n')
    with pytest.raises(ToolFailed, match=r"terraform plan failed: Error: Reference to undeclared input variable"):
        tf.plan(plan, var_files=[var])  # exit 1


def test_workspaces_isolate_envs(tf_repo):
    dev = stack(tf_repo, env="dev")
    dev.init()
    dev.apply(dev.plan())
    qa = stack(tf_repo, env="qa")
    assert qa.init() == "created"
    assert qa.plan().counts["create"] == 3  # qa sees none of dev's state (size 1: network, slot[0], database)


def test_stale_plan_is_refused_by_terraform(tf_repo):
    first = stack(tf_repo)
    first.init()
    first.plan()
    other = stack(tf_repo, plan_file=tf_repo["root"] / "other.tfplan")
    other.apply(other.plan())  # the state moves on after the first plan was made
    with pytest.raises(RefusedError, match="stale"):
        first.apply(first.reviewed_plan(allow_destroy=False))


def test_apply_without_a_plan_or_with_someone_elses_plan_is_refused(tf_repo):
    s = stack(tf_repo)
    s.init()
    with pytest.raises(ConfigError, match="no saved plan"):
        s.reviewed_plan(allow_destroy=False)
    s.plan()
    alpha_file = stack(tf_repo, env="qa").plan_file
    alpha_file.write_bytes(s.plan_file.read_bytes())
    alpha_file.with_suffix(".json").write_text(s.sidecar.read_text())
    qa = stack(tf_repo, env="qa")
    with pytest.raises(ConfigError, match="is a plan for stack base, env dev"):
        qa.reviewed_plan(allow_destroy=False)
    s.plan_file.write_bytes(s.plan_file.read_bytes() + b"x")
    with pytest.raises(RefusedError, match="changed after it was summarized"):
        s.reviewed_plan(allow_destroy=False)


def test_missing_tfvars_is_bad_input(tf_repo):
    s = stack(tf_repo, env="nope")
    s.init()
    with pytest.raises(ConfigError, match=r"envs/nope.tfvars is missing"):
        s.plan()


def test_missing_binary_is_one_clear_error(tf_repo, monkeypatch):
    monkeypatch.setenv("PATH", str(tf_repo["root"]))
    with pytest.raises(ConfigError, match="terraform not found on PATH") as exc:
        stack(tf_repo)
    assert "install Terraform" in exc.value.hint


def test_failed_init_names_the_cause(tf_repo):
    s = stack(tf_repo)
    (s.workdir / "backend_override.tf").unlink()  # back to the S3 backend; this partial config is invalid for it
    with pytest.raises(ConfigError, match="terraform init failed"):
        s.tf.init({"bogus_setting": "x"})


# --- S3 backend partial config -----------------------------------------------------------------------------


def test_s3_backend_config_per_stack():
    cfg = make_config({"iac": {"state_bucket": "acme-tf", "state_region": "eu-west-1", "lock_table": "acme-locks"}})
    assert s3_backend_config(cfg, "app") == {
        "bucket": "acme-tf",
        "key": "app.tfstate",
        "region": "eu-west-1",
        "workspace_key_prefix": "app",
        "dynamodb_table": "acme-locks",
        "encrypt": "true",
    }
    defaults = s3_backend_config(make_config({"aws_region": "us-east-1"}), "base")
    assert defaults["bucket"] == "ublog-terraform-state" and defaults["dynamodb_table"] == "ublog-terraform-locks"


def test_s3_backend_config_needs_a_region(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ConfigError, match="no region"):
        s3_backend_config(make_config({}), "base")


# --- the gate on a recorded plan -----------------------------------------------------------------------------


def test_recorded_rds_replacement_summary_and_gate():
    summary = summarize(json.loads(RECORDED.read_text()), stack="base", env="dev")
    assert summary.counts == {"create": 1, "update": 1, "replace": 1, "destroy": 0}
    assert [c.address for c in summary.changes] == [
        "aws_db_instance.main",
        "aws_security_group.rds",
        "aws_cloudwatch_log_group.rds",
    ]  # no-op and the data-source read are not changes
    with pytest.raises(RefusedError) as exc:
        gate.check(summary, allow_destroy=False)
    assert exc.value.status == ExitStatus.REFUSED
    assert "replace RDS instance aws_db_instance.main dev-rds" in exc.value.message
    assert "--allow-destroy" in exc.value.hint
    assert "aws_security_group" not in exc.value.message
    assert summary.changes[0].detail == "forced by storage_encrypted"


def test_recorded_rds_replacement_allowed_with_flag():
    summary = summarize(json.loads(RECORDED.read_text()), stack="base", env="dev")
    found = gate.check(summary, allow_destroy=True)
    assert [c.address for c in found] == ["aws_db_instance.main"]
    assert any("allowed by --allow-destroy" in n for n in summary.notes)


def test_gate_ignores_non_stateful_destroys():
    data = json.loads(RECORDED.read_text())
    data["resource_changes"][0]["change"]["actions"] = ["update"]
    data["resource_changes"][3]["change"]["actions"] = ["delete"]
    summary = summarize(data, stack="base", env="dev")
    assert gate.check(summary, allow_destroy=False) == []
    assert summary.counts["destroy"] == 1


# --- tasks through Invoke -------------------------------------------------------------------------------------


def test_tf_plan_and_apply_tasks_write_the_step_summary(tf_repo, capsys, monkeypatch, tmp_path):
    step_summary = tmp_path / "summary.md"
    outputs = tmp_path / "out.txt"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    code, out, err = run_task(
        iac_terraform, "tf", ["tf.plan", "--stack", "base", "--env", "dev"], tf_repo["ublog"], capsys
    )
    assert code == 0, err
    assert "4 to add, 0 to change, 0 to replace, 0 to destroy" in out
    md = step_summary.read_text()
    assert "### Terraform plan: stack base, env dev" in md
    assert "<details><summary>Full output</summary>" in md and "terraform_data.slot[1] will be created" in md
    assert "changes=true" in outputs.read_text().splitlines()

    code, out, err = run_task(
        iac_terraform, "tf", ["tf.apply", "--stack", "base", "--env", "dev"], tf_repo["ublog"], capsys
    )
    assert code == 0, err
    assert "Apply complete! Resources: 4 added" in out
    code, _out, err = run_task(
        iac_terraform, "tf", ["tf.apply", "--stack", "base", "--env", "dev"], tf_repo["ublog"], capsys
    )
    assert code == ExitStatus.BAD_INPUT and "no saved plan" in err and "inv tf.plan --stack base --env dev" in err


def test_tf_task_rejects_bad_flags_before_running_terraform(tf_repo, capsys):
    code, _o, err = run_task(
        iac_terraform, "tf", ["tf.plan", "--stack", "db", "--env", "dev"], tf_repo["ublog"], capsys
    )
    assert code == ExitStatus.BAD_INPUT and "unknown stack 'db'" in err
    code, _o, err = run_task(
        iac_terraform, "tf", ["tf.plan", "--stack", "base", "--env", "Dev!"], tf_repo["ublog"], capsys
    )
    assert code == ExitStatus.BAD_INPUT and "invalid env name" in err
    assert not tf_repo["plans"].exists()


@pytest.mark.parametrize(
    ("stdin", "argv_extra", "code", "destroyed"),
    [
        ("dev\n", [], 0, True),
        ("prod\n", [], ExitStatus.REFUSED, False),
        ("", [], ExitStatus.REFUSED, False),  # end of input (CI without --yes)
        (None, ["--yes"], 0, True),
    ],
)
def test_tf_destroy_needs_typed_env_or_yes(tf_repo, capsys, monkeypatch, stdin, argv_extra, code, destroyed):
    s = stack(tf_repo)
    s.init()
    s.apply(s.plan())
    argv = ["tf.destroy", "--stack", "base", "--env", "dev", *argv_extra]
    got, out, err = run_task(iac_terraform, "tf", argv, tf_repo["ublog"], capsys, monkeypatch, stdin=stdin or "")
    assert got == code, err
    assert "0 to add, 0 to change, 0 to replace, 4 to destroy" in out
    left = state_resources(tf_repo["states"], "base", "dev")
    assert (left == []) is destroyed
    if not destroyed:
        assert "not confirmed" in err
        assert not any(p.name.endswith(".destroy.tfplan") for p in tf_repo["plans"].iterdir())


def test_destroy_of_unknown_workspace_changes_nothing(tf_repo, capsys):
    code, _o, err = run_task(
        iac_terraform, "tf", ["tf.destroy", "--stack", "app", "--env", "ghost", "--yes"], tf_repo["ublog"], capsys
    )
    assert code == ExitStatus.BAD_INPUT and "workspace 'ghost' does not exist" in err
    assert os.path.isdir(tf_repo["live"] / "app")


def test_destroy_plan_then_apply_needs_confirmation(tf_repo, capsys, monkeypatch):
    s = stack(tf_repo)
    s.init()
    s.apply(s.plan())
    code, out, err = run_task(
        iac_terraform, "tf", ["tf.plan", "--stack", "base", "--env", "dev", "--destroy"], tf_repo["ublog"], capsys
    )
    assert code == 0, err
    assert "Terraform destroy plan: stack base, env dev" in out and "4 to destroy" in out
    plan_file = tf_repo["plans"] / "tf-base-dev.destroy.tfplan"
    assert plan_file.is_file()
    argv = ["tf.apply", "--stack", "base", "--env", "dev", "--plan-file", str(plan_file)]
    code, _o, err = run_task(iac_terraform, "tf", argv, tf_repo["ublog"], capsys, monkeypatch, stdin="")
    assert code == ExitStatus.REFUSED and "not confirmed" in err
    assert len(state_resources(tf_repo["states"], "base", "dev")) == 4
    code, _o, err = run_task(iac_terraform, "tf", [*argv, "--yes"], tf_repo["ublog"], capsys)
    assert code == 0, err
    assert state_resources(tf_repo["states"], "base", "dev") == []


def test_init_without_aws_credentials_is_one_line_with_a_hint(tf_repo, capsys, monkeypatch):
    """The real S3 backend, no credentials anywhere (IMDS disabled: nothing leaves the machine)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tf_repo["root"]))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    (tf_repo["live"] / "base" / "backend_override.tf").unlink()
    ublog = {
        "iac": {
            "dir": tf_repo["ublog"]["iac"]["dir"],
            "plan_dir": tf_repo["ublog"]["iac"]["plan_dir"],
            "state_bucket": "acme-tf",
            "state_region": "eu-west-1",
        }
    }
    code, _out, err = run_task(iac_terraform, "tf", ["tf.init", "--stack", "base", "--env", "dev"], ublog, capsys)
    assert code == ExitStatus.BAD_INPUT
    assert "error: terraform init failed: no AWS credentials" in err
    assert "hint: configure credentials" in err
    assert "Traceback" not in err


def test_configured_settings_become_variables_only_when_declared(tf_repo):
    app_vars = tf_repo["live"] / "app" / "state.tf"
    app_vars.write_text('variable "state_bucket" {\n  type    = string\n  default = null\n}\n')
    (tf_repo["live"] / "app" / "out.tf").write_text('output "bucket" {\n  value = var.state_bucket\n}\n')
    ublog = {"iac": {**tf_repo["ublog"]["iac"], "state_bucket": "acme-tf", "state_region": "eu-west-1"}}
    app = TfStack(make_config(ublog), "app", "alpha", base_env="qa")
    assert app.variables == {"state_bucket": "acme-tf"}  # state_region and base_env are not declared here
    base = TfStack(make_config(ublog), "base", "dev")
    assert base.variables == {}
    app.init()
    summary = app.plan()
    assert re.search(r'bucket += "acme-tf"', summary.text)
