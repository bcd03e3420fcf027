"""Running one step's shell: its own process group, stdin closed, output line by line, stoppable.

Ctrl-C (KeyboardInterrupt in the caller) and a timeout stop the whole process group: SIGINT (interrupt) or SIGTERM
(timeout) first, then SIGTERM and SIGKILL after :data:`GRACE` seconds each. A background process the step started
(e.g. a server) may keep the output pipe open after the shell exited: reading stops :data:`DRAIN` s after the exit.
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Seconds a stopped step gets after each signal before the next, harder one.
GRACE = 30.0
#: Seconds to keep reading output after the step's shell exited (background children may hold the pipe).
DRAIN = 1.0


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int  # 128+N when killed by signal N (as a shell reports it)
    stopped: str | None  # None, "interrupted" or "timeout"


def run_streaming(
    command: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    on_stop: Callable[[str], None],
    timeout: float | None = None,
    grace: float = GRACE,
) -> ProcessResult:
    """Run ``bash -eo pipefail -c command``; every output line (stdout and stderr) goes to ``on_line``;
    ``on_stop(reason)`` is called once when the step is being stopped."""
    proc = subprocess.Popen(
        ["bash", "-eo", "pipefail", "-c", command],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lines: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            lines.put(raw)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout if timeout else None
    stopped: str | None = None
    escalation: list[tuple[float, int]] = []  # (when, signal) once we decided to stop
    exited_at: float | None = None

    def stop(reason: str, sig: int) -> None:
        nonlocal stopped, escalation
        stopped = reason
        on_stop(reason)
        _killpg(proc, sig)
        t = time.monotonic()
        escalation = [(t + grace, signal.SIGTERM), (t + 2 * grace, signal.SIGKILL)]

    while True:
        try:
            raw = lines.get(timeout=0.2)
            if raw is None:
                break
            on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except queue.Empty:
            pass
        except KeyboardInterrupt:
            if stopped is None:
                stop("interrupted", signal.SIGINT)
        t = time.monotonic()
        if proc.poll() is not None:
            exited_at = exited_at or t
            if t - exited_at > DRAIN:
                break
        if deadline and t > deadline and stopped is None:
            stop("timeout", signal.SIGTERM)
        if escalation and t >= escalation[0][0]:
            _killpg(proc, escalation.pop(0)[1])
    proc.wait()
    reader.join(timeout=0.5)
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return ProcessResult(exit_code=code, stopped=stopped)


def _killpg(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def parse_env_file(text: str) -> dict[str, str | None]:
    """``export K=V`` / ``K=V`` (shell-quoted values) and ``unset A B`` lines (value None); comments and anything
    else ignored — the shell-sourceable file `inv sandbox.up` writes."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if not words:
            continue
        if words[0] == "unset":
            out.update(dict.fromkeys(words[1:]))
            continue
        if words[0] == "export":
            words = words[1:]
        for word in words:
            key, eq, value = word.partition("=")
            if eq and key.isidentifier():
                out[key] = value
    return out
