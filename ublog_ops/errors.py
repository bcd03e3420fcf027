"""Exit statuses and the errors that carry them: one table, mapped to the process exit code in one place
(:func:`ublog_ops.tasks.base.ublog_task`)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes. The README's table is generated from / checked against this enum."""

    OK = 0
    ERROR = 1  #: unexpected failure (a bug, or an AWS error we do not classify)
    BAD_INPUT = 2  #: bad input or config; nothing was changed
    REFUSED = 3  #: preflight refused: image/service missing, deploy in progress, lock held, plan drifted, gate
    PRE_UPDATE_FAILED = 4  #: the pre-update one-off task failed; no service was touched
    ROLLED_BACK = 5  #: rollout failed and every updated service was rolled back
    NOT_ROLLED_BACK = 6  #: rollout failed and was not rolled back (--no-rollback), or the rollback failed
    INTERRUPTED = 130  #: Ctrl-C; anything started was stopped first


EXIT_DESCRIPTIONS: dict[ExitStatus, str] = {
    ExitStatus.OK: "success",
    ExitStatus.ERROR: "unexpected error (rerun with --debug for a traceback)",
    ExitStatus.BAD_INPUT: "bad input or config; nothing was changed",
    ExitStatus.REFUSED: "preflight refused (image or service missing, deploy in progress, lock held, plan drifted, "
    "destructive IaC plan without --allow-destroy)",
    ExitStatus.PRE_UPDATE_FAILED: "pre-update task failed; services untouched",
    ExitStatus.ROLLED_BACK: "rollout failed and was rolled back",
    ExitStatus.NOT_ROLLED_BACK: "rollout failed and was not rolled back, or the rollback failed",
    ExitStatus.INTERRUPTED: "interrupted (Ctrl-C); started work was stopped",
}


class UblogError(Exception):
    """An error with a one-line message, an optional hint and the exit status it maps to."""

    status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, hint: str | None = None, *, status: ExitStatus | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if status is not None:
            self.status = status


class ConfigError(UblogError):
    status = ExitStatus.BAD_INPUT


class RefusedError(UblogError):
    status = ExitStatus.REFUSED


class PreUpdateFailed(UblogError):
    status = ExitStatus.PRE_UPDATE_FAILED


class RolloutFailed(UblogError):
    """Rollout failed; ``status`` tells whether it was rolled back (5) or not (6)."""

    status = ExitStatus.ROLLED_BACK


class Interrupted(UblogError):
    status = ExitStatus.INTERRUPTED
