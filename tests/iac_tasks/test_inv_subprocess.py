"""`inv tf.*` as a real process through the repository's tasks.py (root namespace wiring, flag parsing, exit codes,
the destroy prompt fed on stdin), against the fixture Terraform modules with a local backend override."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
INV = str(Path(sys.executable).parent / "inv")


def inv(tf_repo, *argv: str, stdin: str = "") -> subprocess.CompletedProcess:
    cfg = tf_repo["root"] / "invoke-test.yaml"
    if not cfg.exists():
        cfg.write_text(yaml.safe_dump({"ublog": tf_repo["ublog"]}))
    return subprocess.run(
        [INV, "-r", str(REPO), "-f", str(cfg), *argv],
        cwd=tf_repo["root"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_plan_apply_destroy_through_the_inv_command(tf_repo):
    res = inv(tf_repo, "tf.plan", "--stack", "app", "--env", "alpha")
    assert res.returncode == 0, res.stderr
    assert "3 to add, 0 to change, 0 to replace, 0 to destroy" in res.stdout
    assert (tf_repo["plans"] / "tf-app-alpha.tfplan").is_file()

    res = inv(tf_repo, "tf.apply", "--stack", "app", "--env", "alpha")
    assert res.returncode == 0, res.stderr
    state = json.loads((tf_repo["states"] / "app" / "alpha" / "terraform.tfstate").read_text())
    assert len(state["resources"]) == 3

    res = inv(tf_repo, "tf.destroy", "--stack", "app", "--env", "alpha", stdin="beta\n")
    assert res.returncode == 3
    assert "Type the env name 'alpha' to confirm" in res.stderr
    assert "error: not confirmed: typed 'beta', expected 'alpha'" in res.stderr

    res = inv(tf_repo, "tf.destroy", "--stack", "app", "--env", "alpha", stdin="alpha\n")
    assert res.returncode == 0, res.stderr
    state = json.loads((tf_repo["states"] / "app" / "alpha" / "terraform.tfstate").read_text())
    assert state["resources"] == []


def test_unknown_flag_and_help(tf_repo):
    res = inv(tf_repo, "tf.plan", "--stack", "app", "--env", "alpha", "--yolo")
    assert res.returncode != 0 and "--yolo" in res.stderr
    res = inv(tf_repo, "--help", "tf.destroy")
    assert res.returncode == 0 and "--allow-destroy" in res.stdout and "--yes" in res.stdout
