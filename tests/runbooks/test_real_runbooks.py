"""The shipped runbooks against the REAL task tree (`tasks.py`): they load, every `inv` command parses with
Invoke's parser, every task is covered or exempt, every runbook dry-runs, and getting-started runs for real on
the sandbox. Plus: the sync check catches a renamed task or a removed flag in (a modified copy of) the real tree.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Collection, Program

from ublog_ops.runbook.parser import load_all, runbook_paths
from ublog_ops.runbook.record import list_runs
from ublog_ops.runbook.sync import EXEMPT, check
from ublog_ops.tasks.base import ublog_task

from .helpers import ROOT, RUNBOOKS, real_ns

NAMES = [p.stem for p in runbook_paths(RUNBOOKS)]
#: The procedures issue 6 asks for.
REQUIRED = {
    "getting-started",
    "app-update",
    "rollback",
    "failed-migration",
    "terraform-change",
    "terraform-destroy-app-env",
    "pulumi-change",
    "pulumi-destroy-app-env",
    "cdk-change",
    "cdk-destroy-app-env",
    "first-deploy",
}


@pytest.fixture(scope="module")
def ns():
    return real_ns()


@pytest.fixture(scope="module")
def books():
    return load_all(RUNBOOKS)


def test_every_required_runbook_exists_and_the_index_lists_each(books):
    assert REQUIRED <= {b.name for b in books}
    index = (RUNBOOKS / "README.md").read_text()
    for book in books:
        assert f"({book.name}.md)" in index, f"runbooks/README.md does not link {book.name}.md"


def test_runbooks_and_the_real_task_tree_agree(books, ns):
    report = check(books, ns)
    assert report.ok, report.text()


def copy_tree(ns, rename=None, replace=None):
    """A copy of a collection tree with one task renamed or replaced (the real one is left alone)."""
    rename, replace = rename or {}, replace or {}

    def copy(coll, prefix):
        new = Collection()
        for name, task in coll.tasks.items():
            full = prefix + name
            new.add_task(replace.get(full, task), name=rename.get(full, full).rsplit(".", 1)[-1])
        for name, sub in coll.collections.items():
            new.add_collection(copy(sub, f"{prefix}{name}."), name=name)
        return new

    return copy(ns, "")


def new_problems(books, baseline, modified):
    before = {str(p) for p in check(books, baseline).problems}
    return [str(p) for p in check(books, modified).problems if str(p) not in before]


def test_sync_fails_when_a_real_task_is_renamed(books, ns):
    modified = copy_tree(ns, rename={"app.status": "app.state"})
    problems = new_problems(books, ns, modified)
    assert any("`inv app.status --env alpha` → No idea what 'app.status' is!" in p for p in problems), problems
    assert any(p.startswith("task app.state: is in no runbook") for p in problems), problems


def test_sync_fails_when_a_flag_is_removed_from_a_real_task(books, ns):
    @ublog_task
    def plan(c, env=None, tag=None, frontend_tag=None, backend_only=False, base_env=None, show_values=False):
        """app.plan without --out"""

    modified = copy_tree(ns, replace={"app.plan": plan})
    problems = new_problems(books, ns, modified)
    assert any("app-update.md" in p and "No idea what '--out' is!" in p for p in problems), problems


def test_exemptions_have_reasons():
    assert all(reason.strip() for reason in EXEMPT.values())


def run_inv(argv, capsys, ns):
    code = 0
    try:
        Program(namespace=ns, name="inv", binary="inv").run(["inv", *argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr()


@pytest.mark.parametrize("name", NAMES)
def test_every_runbook_runs_with_dry_run(name, books, ns, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("UBLOG_RUNBOOKS_DIR", str(RUNBOOKS))
    monkeypatch.setenv("UBLOG_RUNBOOK_RUNS_DIR", str(tmp_path / "runs"))
    code, out = run_inv(["runbook.run", name, "--dry-run"], capsys, ns)
    assert code == 0, out.err
    book = next(b for b in books if b.name == name)
    assert f"dry run of {name}: {len(book.steps)} step(s), nothing is executed" in out.out
    for step in book.steps:
        assert f"step {step.number}/{len(book.steps)} · {step.name}" in out.out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", NAMES)
def test_every_runbook_shows(name, ns, capsys, monkeypatch):
    monkeypatch.setenv("UBLOG_RUNBOOKS_DIR", str(RUNBOOKS))
    code, out = run_inv(["runbook.show", name], capsys, ns)
    assert code == 0, out.err
    assert "run it with: inv runbook.run " + name in out.out


@pytest.mark.slow
def test_getting_started_runs_for_real_on_the_sandbox(tmp_path, ns):
    """`inv runbook.run getting-started --yes` as an operator runs it, in a scratch directory so the sandbox's
    .sandbox/, release.json and the record stay out of the repo; the sandbox listens on a free port."""
    if "sandbox.up" not in ns.task_names:
        pytest.skip("inv sandbox.up is not in the task tree yet")
    (tmp_path / "tasks.py").write_text(
        "import importlib.util\n"
        f"_spec = importlib.util.spec_from_file_location('ublog_root_tasks', {str(ROOT / 'tasks.py')!r})\n"
        "_mod = importlib.util.module_from_spec(_spec)\n"
        "_spec.loader.exec_module(_mod)\n"
        "ns = _mod.ns\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "UBLOG_", "GITHUB_", "INVOKE_"))}
    env.update(
        UBLOG_SANDBOX_PORT="0",
        UBLOG_RUNBOOKS_DIR=str(RUNBOOKS),
        UBLOG_RUNBOOK_RUNS_DIR=str(tmp_path / "runs"),
        UBLOG_POLL_INTERVAL="0.5",
    )
    inv = str(Path(sys.executable).with_name("inv"))
    try:
        proc = subprocess.run(
            [inv, "runbook.run", "getting-started", "--yes"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        subprocess.run([inv, "sandbox.down"], cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False)
        shutil.rmtree(tmp_path / ".sandbox", ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "every step ran as expected" in proc.stdout
    [meta] = list_runs(tmp_path / "runs")
    assert meta["runbook"] == "getting-started"
    assert meta["outcome"] == "succeeded" and meta["exit_code"] == 0
    assert meta["params"]["env"] == "alpha" and meta["params"]["tag"] == "v1.2.3"
    assert meta["user"] and meta["host"] and meta["duration_s"] > 0
    codes = {s["name"]: (s["status"], s["exit_code"]) for s in meta["steps"]}
    assert all(status == "ok" for status, _ in codes.values()), codes
    assert codes["failed-migration"] == ("ok", 4)
    assert codes["crashloop"] == ("ok", 5)
    assert codes["apply"] == ("ok", 0)
    record = Path(meta["path"]).read_text()
    assert "inv app.update --env alpha --tag v1.3.0-migrate-fails" in record  # resolved commands
    assert "exit 4 (expected 4)" in record
    assert "Pre-update failed: migrate exited with status 3" in record  # the step's output is in the record
    assert "getting-started  running" in record  # `inv runbook.runs` in step 13 saw this run's record, mid-run
    assert "testing" not in record  # the sandbox's AWS secret key (from .sandbox/env) never appears
    assert "AWS_SECRET_ACCESS_KEY=***" in record or "AWS_SECRET_ACCESS_KEY" not in record
