"""The Pulumi wrapper and `inv pulumi.*` against a fake `pulumi` executable on PATH.

The Pulumi CLI cannot be installed here. The fake records its argv, working directory and UBLOG_PULUMI_ORG, and
prints what a scenario says — preview documents in the format of `pulumi preview --json` (Pulumi's PreviewDigest:
steps[] with op/urn/oldState/newState/diffReasons/replaceReasons/detailedDiff, diagnostics[], changeSummary,
duration; see the `--json` flag in the CLI reference of `pulumi preview` / `pulumi destroy` and the PreviewDigest /
PreviewStep types of the Pulumi CLI's display package). Fixtures: fixtures/plans/pulumi_*.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ublog_ops.errors import ConfigError, ExitStatus, RefusedError
from ublog_ops.iac.pulumi import PulumiStack, summarize
from ublog_ops.tasks import iac_pulumi

from .conftest import FIXTURES, make_config, run_task

PLANS = FIXTURES / "plans"
FAKE = """#!{python}
import json, os, sys
d = os.environ["FAKE_PULUMI_DIR"]
args = sys.argv[1:]
with open(os.path.join(d, "calls.jsonl"), "a") as f:
    f.write(json.dumps({{"argv": args, "cwd": os.getcwd(), "org": os.environ.get("UBLOG_PULUMI_ORG")}}) + "\\n")
if args[0] == "destroy" and "--preview-only" in args:
    key = "destroy-preview"
elif args[0] == "stack":
    key = "stack-select-create" if "--create" in args else "stack-select"
else:
    key = args[0]
scenario = json.load(open(os.path.join(d, "scenario.json")))
step = scenario.get(key, {{}})
if isinstance(step, list):
    counter = os.path.join(d, key + ".count")
    n = int(open(counter).read()) if os.path.exists(counter) else 0
    open(counter, "w").write(str(n + 1))
    step = step[min(n, len(step) - 1)]
if "stdout_file" in step:
    sys.stdout.write(open(step["stdout_file"]).read())
sys.stdout.write(step.get("stdout", ""))
sys.stderr.write(step.get("stderr", ""))
sys.exit(step.get("code", 0))
"""


@pytest.fixture
def fake_pulumi(tmp_path, monkeypatch):
    for var in list(__import__("os").environ):
        if var.startswith(("UBLOG_", "GITHUB_")):
            monkeypatch.delenv(var)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "pulumi"
    exe.write_text(FAKE.format(python=sys.executable))
    exe.chmod(0o755)
    state = tmp_path / "fake"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_PULUMI_DIR", str(state))
    for stack, project in (("base", "ublog-base"), ("app", "ublog-app")):
        d = tmp_path / "iac" / "pulumi" / stack
        d.mkdir(parents=True)
        (d / "Pulumi.yaml").write_text(f"name: {project}\nruntime: python\n")

    class Fake:
        def __init__(self):
            self.dir = state
            self.ublog = {
                "iac": {"dir": str(tmp_path / "iac"), "plan_dir": str(tmp_path / "plans"), "pulumi_org": "acme"}
            }

        def scenario(self, **steps):
            (state / "scenario.json").write_text(json.dumps({k.replace("_", "-"): v for k, v in steps.items()}))

        def calls(self):
            path = state / "calls.jsonl"
            return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []

        def ops(self):
            return [c["argv"][0] + (" --preview-only" if "--preview-only" in c["argv"] else "") for c in self.calls()]

    return Fake()


def out(name: str) -> dict:
    return {"stdout_file": str(PLANS / name)}


def pstack(fake, stack="base", env="dev", **kw) -> PulumiStack:
    return PulumiStack(make_config(fake.ublog), stack, env, **kw)


# --- parsing --------------------------------------------------------------------------------------------------


def test_preview_digest_replacement_counts_once_and_names_the_rds():
    digest = json.loads((PLANS / "pulumi_preview_base_rds_replace.json").read_text())
    s = summarize(digest, stack="base", env="dev")
    assert s.counts == {"create": 1, "update": 1, "replace": 1, "destroy": 0}  # 3 replacement steps = 1 replace
    rds = s.changes[0]
    assert (rds.action, rds.type, rds.name) == ("replace", "aws:rds/instance:Instance", "dev-rds")
    assert rds.detail == "forced by storageEncrypted"
    assert "delete-replaced" in s.text and "changeSummary: create=1, replace=1, same=31, update=1" in s.text


def test_stack_and_provider_resources_are_not_listed():
    digest = json.loads((PLANS / "pulumi_preview_app_create.json").read_text())
    s = summarize(digest, stack="app", env="alpha")
    assert [c.type for c in s.changes] == ["aws:ecs/cluster:Cluster", "ublog:app:Service", "aws:ecs/service:Service"]
    assert s.changes[-1].name == "alpha-gunicorn"


# --- the wrapper against the fake CLI ------------------------------------------------------------------------


def test_preview_selects_or_creates_the_fq_stack_and_exports_the_org(fake_pulumi):
    fake_pulumi.scenario(preview=out("pulumi_preview_app_create.json"))
    p = pstack(fake_pulumi, "app", "alpha")
    summary = p.preview()
    assert summary.counts["create"] == 3
    calls = fake_pulumi.calls()
    assert calls[0]["argv"][:5] == ["stack", "select", "--stack", "acme/ublog-app/alpha", "--create"]
    assert calls[1]["argv"][:4] == ["preview", "--stack", "acme/ublog-app/alpha", "--json"]
    assert "--non-interactive" in calls[1]["argv"]
    assert calls[1]["cwd"] == str(p.workdir) and calls[1]["argv"][-2:] == ["--cwd", str(p.workdir)]
    assert {c["org"] for c in calls} == {"acme"}
    assert json.loads(p.preview_file.read_text())["counts"]["create"] == 3


def test_preview_replacing_rds_is_refused_and_not_saved(fake_pulumi):
    fake_pulumi.scenario(preview=out("pulumi_preview_base_rds_replace.json"))
    p = pstack(fake_pulumi)
    with pytest.raises(RefusedError, match=r"replace RDS instance urn:pulumi:dev::ublog-base::aws:rds/instance"):
        p.preview()
    assert not p.preview_file.exists()
    assert p.preview(allow_destroy=True).counts["replace"] == 1
    assert p.preview_file.exists()


def test_up_runs_only_after_a_matching_reviewed_preview(fake_pulumi):
    fake_pulumi.scenario(preview=out("pulumi_preview_app_create.json"), up={"stdout": "Resources:\n    + 5 created\n"})
    p = pstack(fake_pulumi, "app", "alpha")
    with pytest.raises(ConfigError, match="no reviewed preview"):
        p.up()
    assert "up" not in fake_pulumi.ops()
    p.preview()
    p.up()
    assert fake_pulumi.ops()[-1] == "up"
    up_argv = fake_pulumi.calls()[-1]["argv"]
    assert up_argv[:6] == ["up", "--stack", "acme/ublog-app/alpha", "--yes", "--skip-preview", "--non-interactive"]
    assert not p.preview_file.exists(), "a reviewed preview is used once"


def test_up_refuses_when_the_preview_changed_since_review(fake_pulumi):
    fake_pulumi.scenario(
        preview=[out("pulumi_preview_app_create.json"), out("pulumi_preview_base_rds_replace.json")],
    )
    p = pstack(fake_pulumi, "app", "alpha")
    p.preview()
    with pytest.raises(RefusedError, match="changed since it was reviewed") as exc:
        p.up(allow_destroy=True)
    assert "aws:ecs/cluster:Cluster cluster: reviewed create, now no change" in exc.value.message
    assert "up" not in fake_pulumi.ops()


def test_failed_preview_reports_the_credentials_problem(fake_pulumi):
    fake_pulumi.scenario(preview={**out("pulumi_preview_no_credentials.json"), "code": 255})
    with pytest.raises(ConfigError, match="pulumi preview failed: no AWS credentials") as exc:
        pstack(fake_pulumi).preview()
    assert "OIDC" in exc.value.hint


def test_not_logged_in_is_one_line_with_the_hint(fake_pulumi):
    fake_pulumi.scenario(
        stack_select_create={
            "code": 255,
            "stderr": "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\n",
        }
    )
    with pytest.raises(ConfigError, match="not logged in") as exc:
        pstack(fake_pulumi).preview()
    assert "pulumi login" in exc.value.hint


def test_missing_pulumi_binary(fake_pulumi, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="pulumi not found on PATH") as exc:
        pstack(fake_pulumi)
    assert "install the Pulumi CLI" in exc.value.hint


# --- tasks through Invoke -------------------------------------------------------------------------------------


def test_preview_task_exit_3_names_resources_and_writes_summary(fake_pulumi, capsys, monkeypatch, tmp_path):
    md = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(md))
    fake_pulumi.scenario(preview=out("pulumi_preview_base_rds_replace.json"))
    code, stdout, err = run_task(
        iac_pulumi, "pulumi", ["pulumi.preview", "--stack", "base", "--env", "dev"], fake_pulumi.ublog, capsys
    )
    assert code == ExitStatus.REFUSED
    assert "error: refused: the pulumi plan for base/dev would replace RDS instance" in err and "dev-rds" in err
    assert "Traceback" not in err
    assert "1 to add, 1 to change, 1 to replace, 0 to destroy" in stdout
    text = md.read_text()
    assert "### Pulumi plan: stack base, env dev" in text and "refused (stateful data would be lost)" in text


def test_org_flag_overrides_config(fake_pulumi, capsys):
    fake_pulumi.scenario(preview=out("pulumi_preview_app_create.json"))
    argv = ["pulumi.preview", "--stack", "app", "--env", "alpha", "--org", "other"]
    code, _o, err = run_task(iac_pulumi, "pulumi", argv, fake_pulumi.ublog, capsys)
    assert code == 0, err
    assert fake_pulumi.calls()[-1]["org"] == "other" and "other/ublog-app/alpha" in fake_pulumi.calls()[-1]["argv"]


@pytest.mark.parametrize(
    ("argv_extra", "stdin", "code", "destroyed"),
    [
        (["--allow-destroy"], "dev\n", 0, True),
        (["--allow-destroy"], "nope\n", ExitStatus.REFUSED, False),
        ([], "dev\n", ExitStatus.REFUSED, False),  # RDS + bucket destroyed: needs --allow-destroy as well
        (["--allow-destroy", "--yes"], "", 0, True),
    ],
)
def test_destroy_task(fake_pulumi, capsys, monkeypatch, argv_extra, stdin, code, destroyed):
    fake_pulumi.scenario(destroy_preview=out("pulumi_destroy_preview_base.json"), destroy={"stdout": "destroyed\n"})
    argv = ["pulumi.destroy", "--stack", "base", "--env", "dev", *argv_extra]
    got, stdout, err = run_task(iac_pulumi, "pulumi", argv, fake_pulumi.ublog, capsys, monkeypatch, stdin=stdin)
    assert got == code, err
    assert "0 to add, 0 to change, 0 to replace, 4 to destroy" in stdout
    assert ("destroy" in fake_pulumi.ops()) is destroyed
    assert fake_pulumi.ops()[:2] == ["stack", "destroy --preview-only"]
    if destroyed:
        assert fake_pulumi.calls()[-1]["argv"][:5] == [
            "destroy",
            "--stack",
            "acme/ublog-base/dev",
            "--yes",
            "--skip-preview",
        ]


def test_destroy_of_missing_stack_is_bad_input(fake_pulumi, capsys):
    fake_pulumi.scenario(stack_select={"code": 255, "stderr": "error: no stack named 'acme/ublog-app/ghost' found\n"})
    code, _o, err = run_task(
        iac_pulumi, "pulumi", ["pulumi.destroy", "--stack", "app", "--env", "ghost", "--yes"], fake_pulumi.ublog, capsys
    )
    assert code == ExitStatus.BAD_INPUT and "no stack named 'acme/ublog-app/ghost' found" in err
    assert fake_pulumi.ops() == ["stack"]


def test_up_task_without_preview_is_bad_input(fake_pulumi, capsys):
    fake_pulumi.scenario()
    code, _o, err = run_task(
        iac_pulumi, "pulumi", ["pulumi.up", "--stack", "app", "--env", "alpha"], fake_pulumi.ublog, capsys
    )
    assert code == ExitStatus.BAD_INPUT and "inv pulumi.preview --stack app --env alpha" in err
    assert fake_pulumi.calls() == []
    assert Path(fake_pulumi.ublog["iac"]["dir"]).is_dir()


def test_destroy_plan_only_changes_nothing(fake_pulumi, capsys):
    fake_pulumi.scenario(destroy_preview=out("pulumi_destroy_preview_base.json"))
    argv = ["pulumi.destroy", "--stack", "base", "--env", "dev", "--plan-only", "--allow-destroy"]
    code, stdout, err = run_task(iac_pulumi, "pulumi", argv, fake_pulumi.ublog, capsys)
    assert code == 0, err
    assert "4 to destroy" in stdout
    assert fake_pulumi.ops() == ["stack", "destroy --preview-only"]
