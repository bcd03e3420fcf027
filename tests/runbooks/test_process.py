"""The step process: output line by line, a stubborn step is escalated to SIGKILL, env files are parsed."""

import os

from ublog_ops.runbook.process import parse_env_file, run_streaming


def test_stubborn_step_is_killed_after_the_grace_period(tmp_path):
    lines, stops = [], []
    result = run_streaming(
        "trap '' TERM INT; echo ready; sleep 60 & wait; touch never.done",
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        on_line=lines.append,
        on_stop=stops.append,
        timeout=0.5,
        grace=0.5,
    )
    assert lines == ["ready"]
    assert stops == ["timeout"]
    assert result.stopped == "timeout"
    assert result.exit_code == 128 + 9  # SIGTERM was ignored: SIGKILL ended it
    assert not (tmp_path / "never.done").exists()


def test_exit_code_and_stderr_are_captured(tmp_path):
    lines = []
    result = run_streaming(
        "echo out; echo err >&2; exit 7",
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        on_line=lines.append,
        on_stop=lambda _: None,
    )
    assert (result.exit_code, result.stopped) == (7, None)
    assert lines == ["out", "err"]


def test_background_child_holding_the_pipe_does_not_hang_the_step(tmp_path):
    result = run_streaming(
        "sleep 30 & echo $! > bg.pid; echo started",
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        on_line=lambda _: None,
        on_stop=lambda _: None,
    )
    os.kill(int((tmp_path / "bg.pid").read_text()), 15)  # the background child outlived the step: stop it
    assert result.exit_code == 0 and result.stopped is None


def test_env_file_parsing():
    text = "# comment\nunset AWS_PROFILE AWS_SESSION_TOKEN\nexport A=1\nB='two words'\nnot a var line\n"
    assert parse_env_file(text) == {"AWS_PROFILE": None, "AWS_SESSION_TOKEN": None, "A": "1", "B": "two words"}
