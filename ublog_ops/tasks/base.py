"""What every task shares: config resolution and the single place where errors become exit codes."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from invoke import Context, task
from invoke.exceptions import Exit

from ..config import Config, load_config
from ..errors import EXIT_DESCRIPTIONS, ExitStatus, UblogError


def config_from(ctx: Context, **flags: Any) -> Config:
    """Resolve config for a task: Invoke's ``ublog`` tree (defaults, invoke.yaml, INVOKE_UBLOG_*), then .env,
    UBLOG_* variables, then the given flags (dotted paths; None means "not given")."""
    ublog = ctx.config.get("ublog", None) if hasattr(ctx, "config") else None
    return load_config(ublog, flags)


def _debug_wanted(kwargs: dict[str, Any]) -> bool:
    return bool(kwargs.get("debug")) or os.environ.get("UBLOG_DEBUG", "") not in ("", "0")


def fail(status: ExitStatus | int, message: str, hint: str | None = None) -> Exit:
    """Print one error line and a hint (the exit code's meaning when none is given) to stderr; return the Exit."""
    code = int(status)
    if not hint:
        meaning = EXIT_DESCRIPTIONS.get(ExitStatus(code)) if code in set(ExitStatus) else None
        hint = f"exit {code}: {meaning}" if meaning else "rerun with --debug for details"
    print(f"error: {message}", file=sys.stderr)
    print(f"hint: {hint}", file=sys.stderr)
    return Exit(code=code)


def ublog_task(*args: Any, **kwargs: Any) -> Callable[..., Any]:
    """Like ``@invoke.task`` but adds a ``--debug`` flag and maps errors to exit codes (the only place):

    UblogError -> its status; KeyboardInterrupt -> 130; anything else -> 1. With --debug (or UBLOG_DEBUG=1)
    the traceback is shown instead of the one-line error.
    """

    def decorate(body: Callable[..., Any]) -> Any:
        sig = inspect.signature(body)
        has_debug = "debug" in sig.parameters

        @functools.wraps(body)
        def wrapper(*a: Any, **kw: Any) -> Any:
            debug = _debug_wanted(kw)
            if not has_debug:
                kw.pop("debug", None)
            try:
                return body(*a, **kw)
            except Exit:
                raise
            except UblogError as exc:
                if debug:
                    raise
                raise fail(exc.status, exc.message, exc.hint) from None
            except KeyboardInterrupt:
                if debug:
                    raise
                raise fail(ExitStatus.INTERRUPTED, "interrupted") from None
            except Exception as exc:
                if debug:
                    raise
                raise fail(
                    ExitStatus.ERROR, f"{type(exc).__name__}: {exc}", "rerun with --debug for the traceback"
                ) from None

        if not has_debug:
            params = list(sig.parameters.values())
            params.append(inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=False))
            wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        help_ = dict(kwargs.pop("help", {}) or {})
        help_.setdefault("debug", "show tracebacks instead of one-line errors")
        kwargs.setdefault("auto_shortflags", False)  # long flags only: stable, readable in runbooks and CI
        return task(wrapper, help=help_, **kwargs)

    if len(args) == 1 and callable(args[0]) and not kwargs:
        return decorate(args[0])
    return decorate
