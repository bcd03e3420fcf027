"""The release record: what an App Update did, as JSON (``--json``), as a GitHub step summary
(``GITHUB_STEP_SUMMARY``) and as step outputs (``GITHUB_OUTPUT``).

The record holds no secret values: no environment values, no secret ARNs' contents, no credentials. Pre-update log
lines are the task's own output (the app must not print secrets); they are kept to the last lines only.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import (
    EXIT_DESCRIPTIONS,
    ExitStatus,
    Interrupted,
    PreUpdateFailed,
    RefusedError,
    RolloutFailed,
    UblogError,
)

LAST_LINES = 20


@dataclass
class ServiceRecord:
    name: str
    service: str
    old_task_definition: str | None
    new_task_definition: str | None = None
    desired_count: int | None = None
    state: str = "PENDING"  # PENDING | COMPLETED | FAILED | ROLLED_BACK_BY_ECS | STALLED | TIMEOUT | NOT_STARTED
    reason: str | None = None
    seconds: float | None = None
    rollback_state: str | None = None  # COMPLETED | FAILED | ... when we rolled it back
    last_events: list[str] = field(default_factory=list)
    stopped_reasons: list[str] = field(default_factory=list)


@dataclass
class PreUpdateRecord:
    task_id: str | None = None
    task_definition: str | None = None
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    succeeded: bool | None = None
    failure: str | None = None
    stop_code: str | None = None
    seconds: float | None = None
    line_count: int = 0
    last_lines: list[str] = field(default_factory=list)


@dataclass
class ReleaseRecord:
    env: str
    cluster: str
    inputs: dict[str, Any]
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    pre_update: PreUpdateRecord | None = None
    status: int = int(ExitStatus.OK)
    outcome: str = "pending"
    message: str | None = None
    hint: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None

    # --- outcome -------------------------------------------------------------------------------------------
    def finish(self, status: ExitStatus, outcome: str, message: str | None = None, hint: str | None = None) -> None:
        self.status, self.outcome, self.message, self.hint = int(status), outcome, message, hint

    @property
    def ok(self) -> bool:
        return self.status == ExitStatus.OK

    def error(self) -> UblogError | None:
        """The error that carries this record's exit status (None on success)."""
        if self.ok:
            return None
        status = ExitStatus(self.status)
        kinds: dict[ExitStatus, type[UblogError]] = {
            ExitStatus.REFUSED: RefusedError,
            ExitStatus.PRE_UPDATE_FAILED: PreUpdateFailed,
            ExitStatus.ROLLED_BACK: RolloutFailed,
            ExitStatus.NOT_ROLLED_BACK: RolloutFailed,
            ExitStatus.INTERRUPTED: Interrupted,
        }
        cls = kinds.get(status, UblogError)
        error = cls(self.message or EXIT_DESCRIPTIONS[status], self.hint, status=status)
        error.__cause__ = getattr(self, "cause", None)  # set by the pipeline on an unexpected error (--debug)
        return error

    # --- rollback command ----------------------------------------------------------------------------------
    def rollback_command(self) -> str | None:
        """The exact command that puts every service this release updated back on its previous revision (None when
        no service was touched, e.g. after a failed pre-update)."""
        targets = [
            s.old_task_definition for s in self.services.values() if s.old_task_definition and s.new_task_definition
        ]
        if not targets:
            return None
        parts = ["inv", "app.rollback", "--env", self.env]
        for arn in targets:
            parts += ["--to", arn.rsplit("/", 1)[-1]]
        return shlex.join(parts)

    # --- renderings ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rollback_command"] = self.rollback_command()
        data["exit_code"] = self.status
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def outputs(self) -> dict[str, str]:
        """Step outputs for GITHUB_OUTPUT."""
        out = {
            "outcome": self.outcome,
            "exit-code": str(self.status),
            "env": self.env,
            "tag": str(self.inputs.get("tag") or ""),
            "rollback-command": self.rollback_command() or "",
        }
        for kind, image in self.images.items():
            out[f"{kind}-digest"] = str(image.get("digest") or "")
        for name, svc in self.services.items():
            out[f"{name}-task-definition"] = svc.new_task_definition or svc.old_task_definition or ""
        if self.pre_update is not None:
            codes = [c for c in self.pre_update.exit_codes.values() if c is not None]
            out["pre-update-exit-code"] = str(codes[0]) if len(codes) == 1 else json.dumps(self.pre_update.exit_codes)
        return out

    def markdown(self) -> str:
        icon = "✅" if self.ok else "❌"
        lines = [f"## {icon} App Update `{self.env}` — {self.outcome} (exit {self.status})", ""]
        if self.message:
            lines += [f"**{_md(self.message)}**", ""]
        inputs = ", ".join(f"{k}=`{v}`" for k, v in self.inputs.items() if v not in (None, False, ""))
        lines += [f"Inputs: {inputs}  ", f"Cluster: `{self.cluster}`  "]
        if self.seconds is not None:
            lines.append(f"Duration: {self.seconds:.0f}s  ")
        if self.images:
            lines += ["", "| image | repository | tag | digest |", "| --- | --- | --- | --- |"]
            for kind, image in self.images.items():
                lines.append(
                    f"| {kind} | `{image.get('repository')}` | `{image.get('tag')}` | `{image.get('digest')}` |"
                )
        if self.pre_update is not None:
            pu = self.pre_update
            verdict = "ok" if pu.succeeded else (pu.failure or "failed")
            lines += ["", f"### Pre-update task `{pu.task_id or '-'}`: {_md(verdict)}", ""]
            lines.append(f"Exit codes: {', '.join(f'{k}={v}' for k, v in pu.exit_codes.items()) or '-'}")
            if pu.last_lines:
                lines += ["", f"<details><summary>Last {len(pu.last_lines)} of {pu.line_count} log lines</summary>", ""]
                lines += ["```text", *pu.last_lines, "```", "</details>"]
        if self.services:
            lines += [
                "",
                "| service | old → new revision | desired | state | time |",
                "| --- | --- | --- | --- | --- |",
            ]
            for svc in self.services.values():
                old, new = _rev(svc.old_task_definition), _rev(svc.new_task_definition)
                state = svc.state + (f" → rolled back: {svc.rollback_state}" if svc.rollback_state else "")
                secs = f"{svc.seconds:.0f}s" if svc.seconds is not None else "-"
                lines.append(f"| `{svc.service}` | {old} → {new} | {svc.desired_count} | {state} | {secs} |")
            for svc in self.services.values():
                if svc.reason or svc.last_events or svc.stopped_reasons:
                    lines += ["", f"<details><summary>{svc.service}: {_md(svc.reason or svc.state)}</summary>", ""]
                    lines += [f"- {_md(e)}" for e in [*svc.stopped_reasons, *svc.last_events]]
                    lines += ["", "</details>"]
        rollback = self.rollback_command()
        if rollback:
            lines += ["", "Roll back with:", "", "```bash", rollback, "```"]
        return "\n".join(lines) + "\n"

    # --- GitHub --------------------------------------------------------------------------------------------
    def write_github(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Append the summary / outputs when GITHUB_STEP_SUMMARY / GITHUB_OUTPUT are set; return files written."""
        env = os.environ if environ is None else environ
        written = []
        if env.get("GITHUB_STEP_SUMMARY"):
            with Path(env["GITHUB_STEP_SUMMARY"]).open("a", encoding="utf-8") as fh:
                fh.write(self.markdown())
            written.append(env["GITHUB_STEP_SUMMARY"])
        if env.get("GITHUB_OUTPUT"):
            write_outputs(Path(env["GITHUB_OUTPUT"]), self.outputs())
            written.append(env["GITHUB_OUTPUT"])
        return written


def plan_summary(title: str, text: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Append a plan's human view to GITHUB_STEP_SUMMARY (when set) as a titled text block; return the file."""
    env = os.environ if environ is None else environ
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with Path(target).open("a", encoding="utf-8") as fh:
        fh.write(f"### {title}\n\n```text\n{text.rstrip()}\n```\n")
    return target


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    """Append ``name=value`` lines (heredoc syntax for multi-line values) to a GITHUB_OUTPUT file."""
    with path.open("a", encoding="utf-8") as fh:
        for key, value in outputs.items():
            if "\n" in value:
                delim = f"ghadelim_{secrets.token_hex(8)}"
                fh.write(f"{key}<<{delim}\n{value}\n{delim}\n")
            else:
                fh.write(f"{key}={value}\n")


def _rev(arn: str | None) -> str:
    return f"`{arn.rsplit('/', 1)[-1]}`" if arn else "-"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
