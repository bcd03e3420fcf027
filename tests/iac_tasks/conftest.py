"""Fixtures for the IaC task tests: a copy of the fixture Terraform tree with a local backend override, config
pointing the tasks at it, and helpers to run the tf/pulumi/cdk collections through Invoke's real Program."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from invoke import Collection, Program

from ublog_ops.config import DEFAULTS, load_config

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def tf_env(monkeypatch):
    if not shutil.which("terraform"):
        pytest.skip("terraform is not on PATH")
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/dev/null")
    for var in list(__import__("os").environ):
        if var.startswith(("UBLOG_", "GITHUB_")):
            monkeypatch.delenv(var)


@pytest.fixture
def tf_repo(tmp_path, tf_env):
    """tmp/iac/terraform/live/{base,app} (fixture modules) + a local backend override; returns the settings."""
    live = tmp_path / "iac" / "terraform" / "live"
    shutil.copytree(FIXTURES / "terraform" / "live", live)
    for stack in ("base", "app"):
        # The override replaces the module's `backend "s3" {}`; init then receives workspace_dir as partial config.
        (live / stack / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    return {
        "root": tmp_path,
        "live": live,
        "states": tmp_path / "states",
        "plans": tmp_path / "plans",
        "ublog": {
            "iac": {
                "dir": str(tmp_path / "iac"),
                "plan_dir": str(tmp_path / "plans"),
                "backend_config": {"workspace_dir": str(tmp_path / "states" / "{stack}")},
            }
        },
    }


def make_config(ublog):
    return load_config(ublog, environ={}, dotenv_path=None)


def run_task(module, name, argv, ublog, capsys, monkeypatch=None, stdin=None):
    """Run `inv {name} ARGV` through Invoke's Program on a collection built from ``module``; returns
    (exit code, stdout, stderr)."""
    import copy
    import io
    import sys

    ns = Collection()
    ns.add_collection(Collection.from_module(module), name=name)
    tree = copy.deepcopy(DEFAULTS)
    for key, value in ublog.items():
        if isinstance(value, dict):
            tree.setdefault(key, {}).update(value)
        else:
            tree[key] = value
    ns.configure({"ublog": tree})
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    program = Program(namespace=ns, name="inv", binary="inv")
    code = 0
    try:
        program.run(["inv", *argv])
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err
