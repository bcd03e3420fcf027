"""The subprocess runner shared by the three wrappers: live output + capture, error classification, Ctrl-C."""

from __future__ import annotations

import io
import signal
import sys
import threading

import pytest

from ublog_ops.errors import ConfigError, ExitStatus, Interrupted, RefusedError
from ublog_ops.iac.runner import ToolFailed, classify, last_error_line, run


def test_streams_and_captures(capsys):
    sink = io.StringIO()
    res = run(
        [sys.executable, "-c", "import sys; print('out line'); print('err line', file=sys.stderr)"],
        tool="terraform",
        step="plan",
        out=sink,
    )
    assert res.stdout == "out line\n" and res.stderr == "err line\n"
    assert sink.getvalue() == "out line\n"
    assert "err line" in capsys.readouterr().err


def test_exit_codes_and_first_error_line():
    script = "import sys; print('│ Error: Invalid reference\\n│ more'); sys.exit(1)"
    with pytest.raises(ToolFailed, match="terraform plan failed: Error: Invalid reference"):
        run([sys.executable, "-c", script], tool="terraform", step="plan", stream=False)
    res = run(
        [sys.executable, "-c", "raise SystemExit(2)"], tool="terraform", step="plan", stream=False, ok_codes=(0, 2)
    )
    assert res.returncode == 2


def test_missing_executable_is_config_error():
    with pytest.raises(ConfigError, match="not found") as exc:
        run(["/nonexistent/terraform", "version"], tool="terraform", step="version")
    assert "install Terraform" in exc.value.hint


@pytest.mark.parametrize(
    ("output", "cls", "message"),
    [
        ("Error: No valid credential sources found", ConfigError, "no AWS credentials"),
        ("error: ExpiredToken: The security token included in the request is expired", ConfigError, "expired"),
        ("Error: Error acquiring the state lock\nLock Info: ID: 1234", RefusedError, "locked"),
        ("Error: Saved plan is stale", RefusedError, "stale"),
        ("Unable to resolve AWS account to use. It must be either configured", ConfigError, "no AWS credentials"),
    ],
)
def test_classify_known_causes(output, cls, message):
    err = classify("terraform", "apply", output, 1)
    assert isinstance(err, cls) and message in err.message and err.hint


def test_classify_init_failure_is_bad_input():
    err = classify("terraform", "init", "Error: Failed to get existing workspaces: S3 bucket does not exist.", 1)
    assert isinstance(err, ConfigError) and err.status == ExitStatus.BAD_INPUT
    assert "S3 bucket does not exist" in err.message


def test_last_error_line_strips_box_drawing_and_colour():
    assert last_error_line("\x1b[31m╷\n│ Error: boom\n╵\n") == "Error: boom"
    assert last_error_line("a\nb\n") == "b"


def test_ctrl_c_is_forwarded_to_the_tool_and_reported(tmp_path):
    marker = tmp_path / "got-sigint"
    child = (
        "import signal, sys, time\n"
        f"def stop(*_):\n    open({str(marker)!r}, 'w').write('clean stop')\n    sys.exit(130)\n"
        "signal.signal(signal.SIGINT, stop)\nprint('ready', flush=True)\ntime.sleep(60)\n"
    )

    def interrupt(line: str) -> None:
        if line.startswith("ready"):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C while the tool runs

    with pytest.raises(Interrupted, match="terraform apply interrupted"):
        run([sys.executable, "-c", child], tool="terraform", step="apply", stream=False, on_line=interrupt)
    assert marker.read_text() == "clean stop"  # exactly one SIGINT reached the tool: it stopped cleanly


def test_tool_runs_in_its_own_process_group():
    """A terminal's Ctrl-C goes to the foreground process group: the tool must not get it twice (once from the
    terminal, once forwarded by us) — Terraform aborts without cleanup on a second SIGINT."""
    import os

    res = run([sys.executable, "-c", "import os; print(os.getpgrp())"], tool="terraform", step="x", stream=False)
    assert int(res.stdout) != os.getpgrp()
