"""Run an IaC tool binary as a subprocess: live output, captured text, clear errors.

Every tool call of :mod:`ublog_ops.iac` goes through :func:`run`. A missing binary becomes one
:class:`~ublog_ops.errors.ConfigError` line with an install hint; a failed command becomes a :class:`ToolFailed`
whose message is the tool's own last error line, classified by :func:`classify` (missing credentials, not
logged in, state lock held, …) so the user gets the hint that fixes it. Ctrl-C is forwarded to the tool (Terraform,
Pulumi and the CDK all stop cleanly on SIGINT and release their locks) and reported as
:class:`~ublog_ops.errors.Interrupted` once the tool has exited.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import ConfigError, ExitStatus, Interrupted, RefusedError, UblogError

#: How to install each tool, for the missing-binary hint.
INSTALL_HINTS: dict[str, str] = {
    "terraform": "install Terraform >= 1.6 (https://developer.hashicorp.com/terraform/install) and put it on PATH",
    "pulumi": "install the Pulumi CLI (https://www.pulumi.com/docs/install/) and put it on PATH",
    "node": "install Node.js 18+ (the CDK CLI runs on node)",
    "cdk": "install the pinned CDK CLI: (cd iac/cdk && npm ci)",
}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class ToolFailed(UblogError):
    """A tool exited non-zero. ``status`` is ERROR unless :func:`classify` recognised the cause."""


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        """stdout then stderr, colour codes removed (what a user saw)."""
        return strip_ansi(self.stdout + (("\n" + self.stderr) if self.stderr.strip() else ""))


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def find_binary(name: str, path: str | os.PathLike[str] | None = None, *, tool: str | None = None) -> str:
    """Absolute path of ``name`` (searched on PATH, or the explicit ``path``); ConfigError with a hint if absent."""
    if path is not None:
        p = Path(path)
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
        raise ConfigError(f"{tool or name} not found at {p}", hint=INSTALL_HINTS.get(tool or name))
    found = shutil.which(name)
    if not found:
        raise ConfigError(f"{name} not found on PATH", hint=INSTALL_HINTS.get(tool or name))
    return found


# (pattern in the tool's output, message, hint, status). First match wins.
_CAUSES: list[tuple[re.Pattern[str], str, str, ExitStatus]] = [
    (
        re.compile(
            r"No valid credential sources found|NoCredentialProviders|no EC2 IMDS role found|"
            r"Unable to resolve AWS account to use|Need to perform AWS calls for account .* but no credentials|"
            r"could not find default credentials|failed to refresh cached credentials|"
            r"unable to (?:validate|discover) AWS (?:AccessKeyID|credentials)|missing credentials",
            re.I,
        ),
        "no AWS credentials",
        "configure credentials (AWS_PROFILE / `aws sso login` / OIDC role in CI) and retry",
        ExitStatus.BAD_INPUT,
    ),
    (
        re.compile(r"ExpiredToken|token (?:has|is) expired|InvalidClientTokenId|SignatureDoesNotMatch", re.I),
        "AWS credentials are expired or invalid",
        "refresh them (`aws sso login`, new session keys) and retry",
        ExitStatus.BAD_INPUT,
    ),
    (
        re.compile(r"PULUMI_ACCESS_TOKEN must be set|not logged in|pulumi login", re.I),
        "not logged in to a Pulumi backend",
        "run `pulumi login` (or set PULUMI_ACCESS_TOKEN / PULUMI_BACKEND_URL) and retry",
        ExitStatus.BAD_INPUT,
    ),
    (
        re.compile(
            r"Error acquiring the state lock|ConditionalCheckFailedException.*Lock|stack is currently locked", re.I
        ),
        "the state is locked by another run",
        "wait for the other run to finish; if it died, unlock it (terraform force-unlock ID / pulumi cancel)",
        ExitStatus.REFUSED,
    ),
    (
        re.compile(r"Saved plan is stale", re.I),
        "the saved plan is stale: the state changed after it was made",
        "make a new plan and review it again",
        ExitStatus.REFUSED,
    ),
]


def classify(tool: str, step: str, output: str, returncode: int) -> UblogError:
    """The error for a failed ``tool step``: a known cause with its hint, else the tool's last error line."""
    text = strip_ansi(output)
    for pattern, message, hint, status in _CAUSES:
        if pattern.search(text):
            cls = RefusedError if status == ExitStatus.REFUSED else ConfigError
            return cls(f"{tool} {step} failed: {message}", hint=hint)
    line = last_error_line(text) or f"exit status {returncode}"
    if step == "init":
        return ConfigError(
            f"{tool} init failed: {line}", hint="check the backend settings (state bucket/region/lock table) and access"
        )
    return ToolFailed(f"{tool} {step} failed: {line}", hint="see the tool output above; rerun with --debug for details")


def last_error_line(text: str) -> str | None:
    """The most telling line of a tool's error output: the first 'Error: …' line, else the last non-empty one."""
    lines = [ln.strip(" │╷╵\t") for ln in strip_ansi(text).splitlines()]
    lines = [ln for ln in lines if ln]
    for ln in lines:
        if re.match(r"^(Error|error)\b[:\s]", ln):
            return ln[:300]
    return lines[-1][:300] if lines else None


def run(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    tool: str,
    step: str,
    stream: bool = True,
    check: bool = True,
    ok_codes: Sequence[int] = (0,),
    input_text: str | None = None,
    out: IO[str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Result:
    """Run ``argv``; with ``stream`` echo its output live (stdout to ``out``/sys.stdout, stderr to sys.stderr)
    while capturing both. ``env`` is added to os.environ. Exit codes outside ``ok_codes`` raise (see
    :func:`classify`) when ``check``."""
    argv = [str(a) for a in argv]
    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
            # Own process group: a terminal Ctrl-C reaches only us, and we forward exactly one SIGINT. (Terraform
            # treats a second SIGINT as "abort now", which can leave state half-written.)
            process_group=0,
        )
    except FileNotFoundError:
        raise ConfigError(f"{argv[0]} not found", hint=INSTALL_HINTS.get(tool)) from None
    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def pump(src: IO[str], key: str, sink: IO[str] | None) -> None:
        for line in src:
            chunks[key].append(line)
            if sink is not None:
                sink.write(line)
                sink.flush()
            if on_line is not None and key == "out":
                on_line(line)

    stdout_sink = (out or sys.stdout) if stream else None
    stderr_sink = sys.stderr if stream else None
    threads = [
        threading.Thread(target=pump, args=(proc.stdout, "out", stdout_sink), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, "err", stderr_sink), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        if input_text is not None and proc.stdin is not None:
            proc.stdin.write(input_text)
            proc.stdin.close()
        returncode = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise Interrupted(f"{tool} {step} interrupted; {tool} was stopped") from None
    for t in threads:
        t.join()
    result = Result(tuple(argv), returncode, "".join(chunks["out"]), "".join(chunks["err"]))
    if check and returncode not in ok_codes:
        raise classify(tool, step, result.stdout + "\n" + result.stderr, returncode)
    return result
