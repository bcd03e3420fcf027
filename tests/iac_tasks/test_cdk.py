"""The CDK wrapper and `inv cdk.*`: the real `cdk synth` / `cdk diff --template` of iac/cdk (needs node and
iac/cdk/node_modules: `npm ci` there, which scripts/test does), and deploy/destroy (which need AWS) against a fake
`cdk` that records its argv and replays CDK output recorded from the real CLI."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from ublog_ops.errors import ConfigError, ExitStatus, RefusedError
from ublog_ops.iac import gate
from ublog_ops.iac.cdk import Cdk, CdkStack, destroy_changes, parse_diff
from ublog_ops.tasks import iac_cdk

from .conftest import FIXTURES, make_config, run_task

REPO = Path(__file__).resolve().parents[2]
CDK_DIR = REPO / "iac" / "cdk"
RECORDED_DIFF = FIXTURES / "plans" / "cdk_diff_base_rds_replace.txt"


def _cdk_available() -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    if not (CDK_DIR / "node_modules" / ".bin" / "cdk").exists():
        return "iac/cdk/node_modules missing (run `npm ci` in iac/cdk; scripts/test does)"
    if not (CDK_DIR / "app.py").exists():
        return "iac/cdk/app.py is not there yet"
    try:
        import aws_cdk  # noqa: F401
    except ImportError:
        return "aws-cdk-lib is not installed (the iac extra)"
    return None


needs_cdk = pytest.mark.skipif(_cdk_available() is not None, reason=str(_cdk_available()))


def _clean_env(monkeypatch):
    for var in list(__import__("os").environ):
        if var.startswith(("UBLOG_", "GITHUB_")):
            monkeypatch.delenv(var)


# --- parsing the CLI's own diff text (recorded from cdk 2.1148 diff --template) ------------------------------


def test_parse_recorded_diff():
    changes = parse_diff(
        RECORDED_DIFF.read_text(), {"Rds34D05673": {"Properties": {"DBInstanceIdentifier": "dev-rds"}}}
    )
    by = {c.address: c for c in changes}
    assert by["Rds (Rds34D05673)"].action == "replace"
    assert by["Rds (Rds34D05673)"].detail == "forced by DBInstanceIdentifier"
    assert by["Rds (Rds34D05673)"].name == "dev-rds"
    assert by["LegacyBucketXYZ"].action == "destroy"
    assert by["LegacyLogs"].action == "forget"  # "orphan": removed from the stack, kept in AWS


def test_parse_diff_marks_may_be_replaced_as_possible_and_gates_it():
    text = (
        "Stack dev-base\nResources\n"
        "[~] AWS::ElastiCache::CacheCluster Redis Redis may be replaced\n"
        " └─ [~] CacheNodeType (may cause replacement)\n"
        "[+] AWS::Logs::LogGroup Logs Logs1234\n"
        "\nOutputs\n[+] Output Foo Foo: {}\n"
    )
    changes = parse_diff(text)
    assert [(c.action, c.possible) for c in changes] == [("replace", True), ("create", False)]
    assert gate.stateful_changes(changes)[0].type == "AWS::ElastiCache::CacheCluster"


def test_destroy_summary_respects_deletion_policy():
    template = {
        "Resources": {
            "Db": {
                "Type": "AWS::RDS::DBInstance",
                "DeletionPolicy": "Snapshot",
                "Properties": {"DBInstanceIdentifier": "d"},
            },
            "Assets": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "Properties": {"BucketName": "b"}},
            "CDKMetadata": {"Type": "AWS::CDK::Metadata"},
        }
    }
    assert [(c.address, c.action) for c in destroy_changes(template)] == [("Db", "destroy"), ("Assets", "forget")]


# --- the real CLI ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    """dev-base synthesized once by the real CLI; a diff reviewed against an older deployed template."""
    reason = _cdk_available()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("cdk")
    cfg = make_config({"iac": {"dir": str(REPO / "iac"), "plan_dir": str(tmp / "plans")}})
    s = CdkStack(cfg, "base", "dev", cdk=Cdk(CDK_DIR, stream=False))
    template = s.synth()
    current = json.loads(template.read_text())
    # "deployed" = the same stack minus one security group: reviewing it shows one create, nothing stateful.
    deployed = json.loads(json.dumps(current))
    added = next(k for k, v in deployed["Resources"].items() if v["Type"] == "AWS::EC2::SecurityGroup")
    del deployed["Resources"][added]
    (tmp / "deployed.json").write_text(json.dumps(deployed))
    reviewed = s.compare(tmp / "deployed.json")
    return {"tmp": tmp, "cfg": cfg, "stack": s, "template": current, "reviewed": reviewed, "added": added}


@needs_cdk
def test_real_synth_produces_the_env_stack(synthesized):
    s = synthesized["stack"]
    assert s.template_file.name == "dev-base.template.json"
    rds = [r for r in synthesized["template"]["Resources"].values() if r["Type"] == "AWS::RDS::DBInstance"]
    assert [r["Properties"]["DBInstanceIdentifier"] for r in rds] == ["dev-rds"]


@needs_cdk
def test_real_diff_against_template(synthesized):
    reviewed = synthesized["reviewed"]
    assert reviewed.counts == {"create": 1, "update": 0, "replace": 0, "destroy": 0}
    assert synthesized["added"] in reviewed.changes[0].address
    assert "Resources" in reviewed.text
    same = synthesized["stack"].compare(synthesized["stack"].template_file)
    assert not same.has_changes


@needs_cdk
def test_real_diff_rds_replacement_is_refused(synthesized):
    s, tmp = synthesized["stack"], synthesized["tmp"]
    old = json.loads(json.dumps(synthesized["template"]))
    rds_id = next(k for k, v in old["Resources"].items() if v["Type"] == "AWS::RDS::DBInstance")
    old["Resources"][rds_id]["Properties"]["DBInstanceIdentifier"] = "dev-rds-old"
    (tmp / "old-rds.json").write_text(json.dumps(old))
    summary = s.compare(tmp / "old-rds.json")
    assert [(c.action, c.type) for c in summary.changes] == [("replace", "AWS::RDS::DBInstance")]
    with pytest.raises(RefusedError, match=r"replace RDS instance Rds \(" + rds_id + r"\) dev-rds"):
        gate.check(summary, allow_destroy=False)


@needs_cdk
def test_diff_task_end_to_end_exit_3(synthesized, capsys, monkeypatch, tmp_path):
    _clean_env(monkeypatch)
    md = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(md))
    ublog = {"iac": {"dir": str(REPO / "iac"), "plan_dir": str(tmp_path / "plans")}}
    argv = ["cdk.diff", "--stack", "base", "--env", "dev", "--template", str(synthesized["tmp"] / "old-rds.json")]
    code, out, err = run_task(iac_cdk, "cdk", argv, ublog, capsys)
    assert code == ExitStatus.REFUSED, err
    assert "0 to add, 0 to change, 1 to replace, 0 to destroy" in out
    assert "replace RDS instance" in err and "--allow-destroy" in err
    assert "### CDK plan: stack base, env dev" in md.read_text()
    assert not (tmp_path / "plans" / "cdk-base-dev.json").exists(), "a refused diff is not a reviewed diff"


@needs_cdk
def test_real_diff_without_credentials_is_one_clear_error(synthesized, monkeypatch, tmp_path):
    """The real CLI asked to diff against the deployed stack with no credentials anywhere (IMDS disabled)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    with pytest.raises(ConfigError, match="cdk diff failed: no AWS credentials") as exc:
        synthesized["stack"].compare()
    assert "OIDC" in exc.value.hint


# --- deploy / destroy against a fake CLI --------------------------------------------------------------------

FAKE = """#!{python}
import json, os, shutil, sys
d = os.environ["FAKE_CDK_DIR"]
args = sys.argv[1:]
with open(os.path.join(d, "calls.jsonl"), "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[0] == "synth":
    out = args[args.index("--output") + 1]
    shutil.copytree(os.environ["FAKE_CDK_ASSEMBLY"], out)
elif args[0] == "diff":
    sys.stderr.write(open(os.path.join(d, "diff.txt")).read())
"""


@pytest.fixture
def fake_cdk(synthesized, tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    state = tmp_path / "fake"
    state.mkdir()
    app = tmp_path / "iac" / "cdk"
    (app / "node_modules" / ".bin").mkdir(parents=True)
    exe = app / "node_modules" / ".bin" / "cdk"
    exe.write_text(FAKE.format(python=sys.executable))
    exe.chmod(0o755)
    monkeypatch.setenv("FAKE_CDK_DIR", str(state))
    monkeypatch.setenv("FAKE_CDK_ASSEMBLY", str(synthesized["stack"].assembly))
    ublog = {"iac": {"dir": str(tmp_path / "iac"), "plan_dir": str(tmp_path / "plans")}}
    stack = CdkStack(make_config(ublog), "base", "dev")

    def review():
        """What cdk.diff leaves behind: the assembly plus the reviewed summary (recorded real diff text)."""
        (state / "diff.txt").write_text(synthesized["reviewed"].text)
        return stack.diff()

    def calls():
        path = state / "calls.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    return {"state": state, "stack": stack, "ublog": ublog, "review": review, "calls": calls}


@needs_cdk
def test_deploy_needs_a_reviewed_diff(fake_cdk):
    with pytest.raises(ConfigError, match="no reviewed diff for dev-base"):
        fake_cdk["stack"].deploy()
    assert fake_cdk["calls"]() == []


@needs_cdk
def test_deploy_deploys_exactly_the_reviewed_assembly(fake_cdk):
    s = fake_cdk["stack"]
    assert fake_cdk["review"]().counts["create"] == 1
    s.deploy()
    argv = fake_cdk["calls"]()[-1]
    assert argv == [
        "deploy", "--app", str(s.assembly), "dev-base", "--require-approval", "never", "--progress", "events",
        "--no-notices",
    ]  # fmt: skip


@needs_cdk
def test_deploy_refuses_a_changed_diff_or_template(fake_cdk):
    s = fake_cdk["stack"]
    fake_cdk["review"]()
    (fake_cdk["state"] / "diff.txt").write_text(RECORDED_DIFF.read_text())
    with pytest.raises(RefusedError, match="replace RDS instance"):
        s.deploy()
    with pytest.raises(RefusedError, match="changed since it was reviewed"):
        s.deploy(allow_destroy=True)
    s.template_file.write_text(s.template_file.read_text() + " ")
    with pytest.raises(RefusedError, match="changed after review"):
        s.deploy(allow_destroy=True)
    assert not any(c[0] == "deploy" for c in fake_cdk["calls"]())


@needs_cdk
@pytest.mark.parametrize(
    ("extra", "stdin", "code", "destroyed"),
    [
        ([], "dev\n", ExitStatus.REFUSED, False),  # RDS (Snapshot) and the secret would be destroyed
        (["--allow-destroy"], "alpha\n", ExitStatus.REFUSED, False),
        (["--allow-destroy"], "dev\n", 0, True),
    ],
)
def test_destroy_task(fake_cdk, capsys, monkeypatch, extra, stdin, code, destroyed):
    argv = ["cdk.destroy", "--stack", "base", "--env", "dev", *extra]
    got, out, err = run_task(iac_cdk, "cdk", argv, fake_cdk["ublog"], capsys, monkeypatch, stdin=stdin)
    assert got == code, err
    assert "CDK destroy plan: stack base, env dev" in out
    assert "forget" in out  # the assets bucket is retained
    assert any(c[0] == "destroy" for c in fake_cdk["calls"]()) is destroyed
    if destroyed:
        assert fake_cdk["calls"]()[-1][:5] == [
            "destroy",
            "--app",
            str(fake_cdk["stack"].assembly),
            "dev-base",
            "--force",
        ]


@needs_cdk
def test_destroy_plan_only_changes_nothing(fake_cdk, capsys):
    argv = ["cdk.destroy", "--stack", "base", "--env", "dev", "--plan-only", "--allow-destroy"]
    code, out, err = run_task(iac_cdk, "cdk", argv, fake_cdk["ublog"], capsys)
    assert code == 0, err
    assert "CDK destroy plan" in out
    assert [c[0] for c in fake_cdk["calls"]()] == ["synth"]


def test_missing_cdk_cli_is_one_clear_error(tmp_path, capsys, monkeypatch):
    _clean_env(monkeypatch)
    (tmp_path / "iac" / "cdk").mkdir(parents=True)
    ublog = {"iac": {"dir": str(tmp_path / "iac"), "plan_dir": str(tmp_path / "plans")}}
    code, _o, err = run_task(iac_cdk, "cdk", ["cdk.synth", "--stack", "app", "--env", "alpha"], ublog, capsys)
    assert code == ExitStatus.BAD_INPUT
    assert ("cdk not found" in err and "npm ci" in err) or "node not found" in err
    assert "Traceback" not in err
