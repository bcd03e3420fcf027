"""The step runner, driven through its prompt exactly as an operator drives it (injected input/output streams).

Steps are real shell commands whose side effects (files in tmp_path) prove what ran and what did not.
"""

import io
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml

from ublog_ops.errors import ExitStatus
from ublog_ops.runbook.params import RunbookError, resolve
from ublog_ops.runbook.record import list_runs, read_meta
from ublog_ops.runbook.runner import Runner, resume_prefix

from .helpers import write_runbook

BOOK = """
---
title: Fixture
params:
  env: {default: alpha, pattern: "[a-z]+"}
  token: {secret: true, default: tok-SECRET-1234}
---

# Fixture

Read-only first.

```bash {name=look mutates=false}
echo "looking at {{ env }}"; touch look.done
```

```bash {name=change}
echo "changing {{ env }}"; touch change.done
```

```bash {name=break}
echo "about to fail"; touch break.done; exit 3
```

```bash {name=after}
touch after.done
```
"""


def make(tmp_path, answers="", text=BOOK, given=None, environ=None, **kw):
    book = write_runbook(tmp_path / "books", "fixture", text)
    given = given or {}
    values = resolve(book.params, given, environ={})
    out = io.StringIO()
    runner = Runner(
        book,
        values,
        stdin=io.StringIO(answers),
        stdout=out,
        cwd=tmp_path,
        environ=environ if environ is not None else {"PATH": os.environ["PATH"]},
        runs_dir=tmp_path / "runs",
        resume_argv=resume_prefix(book, given, kw.get("yes", False)),
        **kw,
    )
    return runner, out


def ran(tmp_path):
    return sorted(p.stem for p in tmp_path.glob("*.done"))


def test_read_only_steps_run_without_asking_and_run_answer_runs(tmp_path):
    runner, out = make(tmp_path, answers="r\n")
    result = runner.run()
    # step 1 ran without a prompt, step 2 after "r", step 3 needs an answer: input is exhausted -> quit
    assert ran(tmp_path) == ["change", "look"]
    text = out.getvalue()
    assert text.count("[r]un / [s]kip / [e]dit / [q]uit?") == 2
    assert "looking at alpha" in text and "changing alpha" in text
    assert result.outcome == "quit"
    assert result.exit_code == ExitStatus.INTERRUPTED
    assert result.resume == "inv runbook.run fixture --from 3"
    assert "no answer (input closed)" in text


def test_skip_then_failure_stops_and_prints_resume_command(tmp_path):
    runner, out = make(tmp_path, answers="s\nrun\n", given={"env": "beta"})
    result = runner.run()
    assert ran(tmp_path) == ["break", "look"]  # change skipped, after never reached
    assert result.outcome == "failed"
    assert result.exit_code == 3  # the failing step's own exit code
    assert result.failed_step == 3
    assert result.resume == "inv runbook.run fixture --env beta --from 3"
    assert "resume with: inv runbook.run fixture --env beta --from 3" in out.getvalue()
    assert [r.status for r in result.steps] == ["ok", "skipped", "failed"]


def test_unknown_answers_are_asked_again_and_quit_stops(tmp_path):
    runner, out = make(tmp_path, answers="maybe\n\nq\n")
    result = runner.run()
    assert ran(tmp_path) == ["look"]
    assert out.getvalue().count("please answer r, s, e or q") == 2
    assert result.outcome == "quit" and result.resume.endswith("--from 2")


def test_edit_inline_then_run_uses_the_edited_command_and_records_it(tmp_path):
    # "e" reads a new command up to a line with a single "."; references are resolved in it
    runner, out = make(tmp_path, answers="e\necho edited for {{ env }}; touch edited.done\n.\nr\nq\n")
    result = runner.run()
    assert ran(tmp_path) == ["edited", "look"]  # the original `change` command did not run
    assert "edited for alpha" in out.getvalue()
    step = result.steps[1]
    assert step.edited and step.status == "ok"
    assert "echo edited for alpha" in step.command
    record = result.record_path.read_text()
    assert "echo edited for alpha" in record
    assert "command edited at the prompt" in record


def test_edit_with_unknown_reference_keeps_the_old_command(tmp_path):
    runner, out = make(tmp_path, answers="e\necho {{ nope }}\n.\nr\nq\n")
    runner.run()
    assert "edit not used: edited command: unknown parameter {{ nope }}" in out.getvalue()
    assert ran(tmp_path) == ["change", "look"]


def test_edit_with_external_editor(tmp_path):
    editor = tmp_path / "ed.sh"
    editor.write_text('#!/bin/sh\nsed -i "s/change.done/via-editor.done/" "$1"\n')
    editor.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "EDITOR": str(editor)}
    runner, _ = make(tmp_path, answers="e\nr\nq\n", environ=env)
    runner.run()
    assert ran(tmp_path) == ["look", "via-editor"]


def test_yes_runs_everything_without_prompts(tmp_path):
    runner, out = make(tmp_path, yes=True)
    result = runner.run()
    assert "[r]un" not in out.getvalue()
    assert ran(tmp_path) == ["break", "change", "look"]
    assert result.resume == "inv runbook.run fixture --yes --from 3"


def test_from_and_only(tmp_path):
    runner, _ = make(tmp_path, yes=True, start=4)
    assert runner.run().outcome == "succeeded"
    assert ran(tmp_path) == ["after"]
    runner, _ = make(tmp_path, yes=True, only=3)
    result = runner.run()
    assert ran(tmp_path) == ["after", "break"]
    assert result.resume.endswith("--only 3")
    record = result.record_path.read_text()
    assert "not run" in record  # steps outside the selection are marked in the record


def test_dry_run_runs_nothing_and_writes_no_record(tmp_path):
    runner, out = make(tmp_path, dry_run=True, given={"env": "beta"})
    result = runner.run()
    assert result.outcome == "dry-run" and result.exit_code == 0
    assert ran(tmp_path) == []
    assert not (tmp_path / "runs").exists()
    text = out.getvalue()
    assert 'echo "looking at beta"; touch look.done' in text
    assert "touch after.done" in text


EXPECT = """
---
title: Expect
---

```bash {name=drill expect=4}
echo migration failed; exit 4
```

```bash {name=surprise expect=4}
echo all fine
```
"""


def test_expected_nonzero_exit_is_success_and_unexpected_zero_fails(tmp_path):
    runner, _ = make(tmp_path, text=EXPECT, yes=True)
    result = runner.run()
    assert [(r.status, r.exit_code) for r in result.steps] == [("ok", 4), ("failed", 0)]
    assert result.exit_code == 1  # the step exited 0 where 4 was expected: a failure with code 1


CONFIRM = """
---
title: Confirm
params:
  env: {default: feature-x}
---

```bash {name=destroy confirm=env}
touch destroyed.done
```
"""


def test_confirm_requires_typing_the_value(tmp_path):
    runner, out = make(tmp_path, text=CONFIRM, answers="r\nfeature\nfeature-x\n")
    result = runner.run()
    assert result.outcome == "succeeded"
    assert ran(tmp_path) == ["destroyed"]
    assert out.getvalue().count("type 'feature-x', s, e or q") == 2  # "r" and a wrong name are not enough


def test_timeout_stops_the_step(tmp_path):
    text = """
    ---
    title: Slow
    ---

    ```bash {name=slow mutates=false timeout=1}
    echo started; sleep 60; touch never.done
    ```
    """
    runner, out = make(tmp_path, text=text)
    result = runner.run()
    assert result.outcome == "failed" and result.steps[0].status == "timeout"
    assert ran(tmp_path) == []
    assert "ran longer than 1s" in out.getvalue()


def test_output_streams_and_tail_is_truncated_in_the_record(tmp_path):
    text = """
    ---
    title: Chatty
    ---

    ```bash {name=chatty mutates=false}
    for i in $(seq 1 500); do echo "line $i"; done; echo '````'
    ```
    """
    runner, out = make(tmp_path, text=text, tail_lines=50)
    result = runner.run()
    assert "line 1\n" in out.getvalue()  # the terminal saw everything
    record = result.record_path.read_text()
    assert "last 50 of 501 lines (451 omitted)" in record
    assert "line 452" in record and "line 451\n" not in record
    assert "`````text" in record  # the fence outgrows the backticks in the output


def test_env_file_is_loaded_before_each_step_and_its_secrets_masked(tmp_path):
    text = """
    ---
    title: Env file
    env_file: .state/env
    ---

    ```bash {name=write mutates=false}
    mkdir -p .state
    printf 'export SVC_URL=http://127.0.0.1:9\\nexport SVC_SECRET_KEY=s3cr3t-from-file\\n' > .state/env
    echo 'unset OLD_PROFILE' >> .state/env
    echo "export SVC_SECRET_KEY=s3cr3t-from-file"
    ```

    ```bash {name=use mutates=false}
    echo "url=$SVC_URL secret=$SVC_SECRET_KEY profile=${OLD_PROFILE:-unset}"
    ```
    """
    runner, out = make(tmp_path, text=text, environ={"PATH": os.environ["PATH"], "OLD_PROFILE": "prod"})
    result = runner.run()
    assert result.outcome == "succeeded"
    assert "url=http://127.0.0.1:9" in out.getvalue()
    assert "profile=unset" in out.getvalue()  # `unset` lines of the env file are honoured
    record = result.record_path.read_text()
    assert "s3cr3t-from-file" not in out.getvalue()
    assert "s3cr3t-from-file" not in record
    assert "secret=***" in record


def test_secrets_never_reach_output_or_record(tmp_path):
    env = {"PATH": os.environ["PATH"], "GITHUB_TOKEN": "ghs-value-987654", "HOME_DIR": "/nothing-secret"}
    text = """
    ---
    title: Secrets
    params:
      token: {secret: true, pattern: "tok-.*"}
    ---

    ```bash {name=leak mutates=false}
    echo "param {{ token }} env $GITHUB_TOKEN key AKIAABCDEFGHIJKLMNOP home $HOME_DIR"
    echo "export AWS_SECRET_ACCESS_KEY=abcdEFGH1234"
    ```
    """
    book = write_runbook(tmp_path / "books", "secrets", text)
    values = resolve(book.params, {"token": "tok-TOPSECRET-42"}, environ={})
    out = io.StringIO()
    result = Runner(
        book, values, stdin=io.StringIO(), stdout=out, cwd=tmp_path, environ=env, runs_dir=tmp_path / "runs"
    ).run()
    record = result.record_path.read_text()
    for secret in ("tok-TOPSECRET-42", "ghs-value-987654", "AKIAABCDEFGHIJKLMNOP", "abcdEFGH1234"):
        assert secret not in out.getvalue()
        assert secret not in record
    assert "home /nothing-secret" in record  # ordinary values stay readable
    meta = read_meta(result.record_path)
    assert meta["params"] == {"token": "***"}


def test_record_holds_who_when_params_commands_and_outcome(tmp_path):
    runner, _ = make(tmp_path, answers="r\nr\n", given={"env": "beta"})
    result = runner.run()
    meta = read_meta(result.record_path)
    assert result.record_path.parent == tmp_path / "runs"
    assert result.record_path.name.endswith("-fixture.md")
    assert meta["runbook"] == "fixture"
    assert meta["outcome"] == "failed" and meta["exit_code"] == 3 and meta["failed_step"] == 3
    assert meta["resume"] == "inv runbook.run fixture --env beta --from 3"
    assert meta["params"] == {"env": "beta", "token": "***"}
    assert meta["user"] and meta["host"]
    assert meta["started_at"] and meta["ended_at"] and meta["duration_s"] >= 0
    steps = meta["steps"]
    assert [(s["number"], s["status"], s["exit_code"]) for s in steps] == [(1, "ok", 0), (2, "ok", 0), (3, "failed", 3)]
    assert all(s["started_at"] and s["ended_at"] for s in steps)
    text = result.record_path.read_text()
    assert 'echo "looking at beta"; touch look.done' in text  # resolved command
    assert "Read-only first." in text  # the prose is kept
    assert "step 4 · `after` — not run" in text
    assert "tok-SECRET-1234" not in text
    assert yaml.safe_load(text.split("---\n")[1])["runbook"] == "fixture"
    assert list_runs(tmp_path / "runs")[0]["path"] == str(result.record_path)


def test_ctrl_c_stops_the_running_step_and_records_it(tmp_path):
    """A real SIGINT to a runner process: the step's process group is stopped, the run recorded as interrupted."""
    book = tmp_path / "books" / "slow.md"
    book.parent.mkdir()
    book.write_text(
        textwrap.dedent(
            """\
            ---
            title: Slow
            ---

            ```bash {name=wait mutates=false}
            echo started; sleep 120; touch never.done
            ```
            """
        )
    )
    driver = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from ublog_ops.runbook.parser import load_runbook
        from ublog_ops.runbook.runner import Runner
        book = load_runbook(Path({str(book)!r}))
        result = Runner(book, {{}}, cwd=Path({str(tmp_path)!r}), runs_dir=Path({str(tmp_path / "runs")!r})).run()
        sys.exit(result.exit_code)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            if line.strip() == "started":
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == ExitStatus.INTERRUPTED
    assert "resume with: inv runbook.run slow --from 1" in rest
    assert ran(tmp_path) == []
    meta = list_runs(tmp_path / "runs")[0]
    assert meta["outcome"] == "interrupted"
    assert meta["steps"][0]["status"] == "interrupted"


def test_inv_in_steps_is_this_installation(tmp_path):
    """Steps call `inv` from the same installation as the runner, against the task tree of their directory."""
    (tmp_path / "tasks.py").write_text(
        "from invoke import task\n\n@task\ndef hello(c, name='x'):\n    print(f'hello {name}')\n"
    )
    text = """
    ---
    title: Inv
    params:
      env: {default: alpha}
    ---

    ```bash {name=hello mutates=false}
    inv hello --name {{ env }}
    ```
    """
    runner, out = make(tmp_path, text=text, environ={"PATH": "/usr/bin:/bin"})
    result = runner.run()
    assert result.outcome == "succeeded", out.getvalue()
    assert "hello alpha" in out.getvalue()


def test_bad_step_numbers_are_refused(tmp_path):
    with pytest.raises(RunbookError, match=r"has steps 1\.\.4, not 9"):
        make(tmp_path, start=9)


def test_record_names_the_github_actor_and_run_in_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/ublog")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    runner, _ = make(tmp_path, yes=True, only=1)
    meta = read_meta(runner.run().record_path)
    assert meta["github_actor"] == "octocat"
    assert meta["ci_run"] == "https://github.com/acme/ublog/actions/runs/42"
