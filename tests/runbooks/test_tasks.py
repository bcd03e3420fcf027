"""`inv runbook.list|show|run|runs` through Invoke's real Program, on fixture runbooks."""

import io
import os
import shlex
import sys

import pytest
from invoke import Collection, Program

from ublog_ops.errors import ExitStatus
from ublog_ops.tasks import runbook as runbook_tasks

from .helpers import write_runbook

BOOK = """
---
title: Drill
summary: a drill for the task tests
params:
  env: {pattern: "[a-z]+"}
  to: {type: list, required: false}
  count: {type: int, default: 1}
---

Prose for the operator.

```bash {name=look mutates=false}
echo "look {{ env }} {{ to | flag --to }} n={{ count }}"
```

```bash {name=change}
touch changed.done; exit 3
```
"""


@pytest.fixture
def books(tmp_path, monkeypatch):
    write_runbook(tmp_path / "books", "drill", BOOK)
    monkeypatch.setenv("UBLOG_RUNBOOKS_DIR", str(tmp_path / "books"))
    monkeypatch.setenv("UBLOG_RUNBOOK_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def inv(argv, capsys):
    ns = Collection()
    ns.add_collection(Collection.from_module(runbook_tasks), name="runbook")
    program = Program(namespace=ns, name="inv", binary="inv")
    code = 0
    try:
        program.run(["inv", *argv])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_and_show(books, capsys):
    code, out, _ = inv(["runbook.list"], capsys)
    assert code == 0
    assert "drill" in out and "a drill for the task tests" in out and "[env* to count]" in out
    code, out, _ = inv(["runbook.show", "drill", "--env", "beta"], capsys)
    assert code == 0
    assert "Prose for the operator." in out
    assert "step 1/2 · look · read-only" in out and "step 2/2 · change · changes something" in out
    assert 'echo "look beta n=1"' in out  # resolved with the given parameters
    assert "matches [a-z]+" in out  # patterns are shown literally, not eaten as rich markup


def test_run_with_yes_fails_at_step_2_with_its_code_resume_and_record(books, capsys):
    argv = ["runbook.run", "drill", "--env", "beta", "--param", "to=a:1", "--param", "to=b:2", "--yes"]
    code, out, _ = inv(argv, capsys)
    assert code == 3
    assert "look beta --to a:1 --to b:2 n=1" in out
    assert "resume with: inv runbook.run drill --env beta --param to=a:1 --param to=b:2 --yes --from 2" in out
    assert (books / "changed.done").exists()
    records = list((books / "runs").glob("*-drill.md"))
    assert len(records) == 1
    code, out, _ = inv(["runbook.runs"], capsys)
    assert code == 0
    assert "drill" in out and "failed (exit 3)" in out and "1/2 steps ok" in out and "failed (exit 3) at step 2" in out


def test_run_prompt_through_the_task(books, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("s\n"))
    code, out, _ = inv(["runbook.run", "drill", "--env", "beta"], capsys)
    assert code == 0
    assert "[r]un / [s]kip / [e]dit / [q]uit?" in out
    assert not (books / "changed.done").exists()
    assert "every step ran as expected (skipped: 2)" in out


def test_dry_run_needs_no_parameters_and_runs_nothing(books, capsys):
    code, out, _ = inv(["runbook.run", "drill", "--dry-run"], capsys)
    assert code == 0
    assert "echo \"look '<env>' n=1\"" in out
    assert not (books / "changed.done").exists()
    assert not (books / "runs").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runbook.run", "drill"], "missing parameter(s): env"),
        (["runbook.run", "drill", "--env", "Beta"], "does not match"),
        (["runbook.run", "drill", "--env", "beta", "--tag", "v1"], "runbook drill has no parameter tag"),
        (["runbook.run", "drill", "--env", "beta", "--param", "nope=1"], "unknown parameter(s): nope"),
        (["runbook.run", "drill", "--env", "beta", "--param", "count"], "bad --param 'count'"),
        (["runbook.run", "drill", "--env", "beta", "--from", "3"], "has steps 1..2, not 3"),
        (["runbook.run", "drill", "--env", "beta", "--from", "1", "--only", "2"], "--from and --only together"),
        (["runbook.run", "nosuch"], "no runbook 'nosuch'"),
    ],
)
def test_bad_input_is_exit_2_and_runs_nothing(books, capsys, argv, message):
    code, _, err = inv(argv, capsys)
    assert code == ExitStatus.BAD_INPUT
    assert message in err
    assert "hint:" in err
    assert not (books / "changed.done").exists()


def test_runs_when_there_are_none(books, capsys):
    code, out, _ = inv(["runbook.runs", "--runbook", "drill"], capsys)
    assert code == 0
    assert "no recorded runs" in out and os.fspath(books / "runs") in out


RESUMABLE = """
---
title: Resumable
params:
  env: {pattern: "[a-z]+"}
---

```bash {name=first mutates=false}
echo run >> first.count
```

```bash {name=needs-fix mutates=false}
test -f fixed || { echo "not fixed yet"; exit 3; }
echo fixed now
```

```bash {name=last mutates=false}
touch last.done
```
"""


def test_the_printed_resume_command_resumes(books, capsys):
    write_runbook(books / "books", "resumable", RESUMABLE)
    code, out, _ = inv(["runbook.run", "resumable", "--env", "beta"], capsys)
    assert code == 3
    resume = next(line for line in out.splitlines() if line.startswith("resume with: "))
    argv = shlex.split(resume.removeprefix("resume with: "))
    assert argv == ["inv", "runbook.run", "resumable", "--env", "beta", "--from", "2"]
    (books / "fixed").write_text("")
    code, out, _ = inv(argv[1:], capsys)
    assert code == 0, out
    assert "fixed now" in out
    assert (books / "first.count").read_text() == "run\n"  # step 1 was not run again
    assert (books / "last.done").exists()
    newest = sorted((books / "runs").glob("*-resumable*.md"))
    assert len(newest) == 2
