"""The one place errors become exit codes: ublog_task, driven through Invoke's real Program."""

import pytest
from invoke import Collection, Program

from ublog_ops.errors import ExitStatus, PreUpdateFailed, RefusedError
from ublog_ops.tasks.base import ublog_task


@ublog_task
def refuse(c):
    raise RefusedError("lock held by bob since 10:00", hint="inv app.unlock --env alpha")


@ublog_task(help={"code": "exit code to end with"})
def migrate(c, code=0):
    raise PreUpdateFailed(f"pre-update exited {code}")


@ublog_task
def boom(c):
    raise RuntimeError("unexpected thing")


@ublog_task
def interrupt(c):
    raise KeyboardInterrupt


@ublog_task
def ok(c, name="x"):
    print(f"hello {name}")


def run(argv, capsys):
    program = Program(namespace=Collection(refuse, migrate, boom, interrupt, ok), name="inv", binary="inv")
    with pytest.raises(SystemExit) as exc:
        program.run(["inv", *argv])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize(
    ("argv", "status", "line"),
    [
        (["refuse"], ExitStatus.REFUSED, "error: lock held by bob since 10:00"),
        (["migrate", "--code", "3"], ExitStatus.PRE_UPDATE_FAILED, "error: pre-update exited 3"),
        (["boom"], ExitStatus.ERROR, "error: RuntimeError: unexpected thing"),
        (["interrupt"], ExitStatus.INTERRUPTED, "error: interrupted"),
    ],
)
def test_errors_map_to_documented_exit_codes_without_traceback(argv, status, line, capsys):
    code, _out, err = run(argv, capsys)
    assert code == status
    assert line in err
    assert "Traceback" not in err
    assert "hint:" in err


def test_hint_is_printed(capsys):
    _, _, err = run(["refuse"], capsys)
    assert "hint: inv app.unlock --env alpha" in err


def test_debug_flag_shows_traceback(capsys):
    program = Program(namespace=Collection(boom), name="inv", binary="inv")
    with pytest.raises(RuntimeError, match="unexpected thing"):
        program.run(["inv", "boom", "--debug"], exit=False)


def test_success_and_flags_pass_through(capsys):
    program = Program(namespace=Collection(ok), name="inv", binary="inv")
    program.run(["inv", "ok", "--name", "alpha"], exit=False)
    assert "hello alpha" in capsys.readouterr().out
