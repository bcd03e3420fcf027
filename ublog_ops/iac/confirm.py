"""Typed confirmation for destructive IaC operations: ``--yes``, or type the env name on stdin."""

from __future__ import annotations

import sys
from typing import IO

from ..errors import RefusedError


def confirm_env(env: str, what: str, *, yes: bool, stdin: IO[str] | None = None, out: IO[str] | None = None) -> None:
    """Return when confirmed: ``yes`` is true, or the line read from ``stdin`` is exactly ``env``.

    Anything else (another word, an empty line, end of input as in CI without --yes) raises RefusedError (exit 3)
    and nothing is changed."""
    if yes:
        return
    stdin = stdin or sys.stdin
    out = out or sys.stderr
    out.write(f"{what}\nType the env name '{env}' to confirm: ")
    out.flush()
    answer = stdin.readline()
    if not answer:
        out.write("\n")
        raise RefusedError(f"not confirmed: no answer on stdin ({what})", hint="pass --yes to confirm without a prompt")
    if answer.strip() != env:
        raise RefusedError(f"not confirmed: typed {answer.strip()!r}, expected {env!r}", hint="nothing was changed")
