"""The record of a run: the runbook's own markdown, executed — every step's resolved command, exit code, times and
the tail of its output — with who ran it, the parameters and the outcome on top (YAML front matter for machines, a
table for people). Written under ``runbooks/runs/`` (git-ignored) as ``<UTC date-time>-<runbook>.md``, rewritten
after every step so even a run killed half-way leaves its record. Everything goes through the run's Masker.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .parser import Runbook, Step

#: Output kept per step in the record: the last TAIL_LINES lines, each cut at MAX_LINE chars.
TAIL_LINES = 200
MAX_LINE = 2000
ICONS = {
    "ok": "✅",
    "failed": "❌",
    "skipped": "⏭️",
    "interrupted": "⛔",
    "timeout": "⏱️",
    "not-run": "▫️",
    "running": "⏳",
}


def now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def who() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER") or str(os.getuid())
    data = {"user": user, "host": socket.gethostname()}
    if os.environ.get("GITHUB_ACTOR"):  # in a workflow the person is the actor, the run is the audit trail
        data["github_actor"] = os.environ["GITHUB_ACTOR"]
        if os.environ.get("GITHUB_RUN_ID") and os.environ.get("GITHUB_REPOSITORY"):
            server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
            data["ci_run"] = f"{server}/{os.environ['GITHUB_REPOSITORY']}/actions/runs/{os.environ['GITHUB_RUN_ID']}"
    return data


@dataclass
class StepResult:
    number: int
    name: str
    status: str  # running | ok | failed | skipped | interrupted | timeout | not-run
    command: str  # resolved (and masked) command that ran, or would have run
    mutates: bool
    expected: int
    exit_code: int | None = None
    edited: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output_tail: list[str] = field(default_factory=list)
    output_lines: int = 0
    note: str = ""

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.ended_at:
            return round((self.ended_at - self.started_at).total_seconds(), 3)
        return None

    def summary(self) -> dict[str, Any]:
        data = {
            "number": self.number,
            "name": self.name,
            "status": self.status,
            "exit_code": self.exit_code,
            "expected": self.expected,
            "edited": self.edited,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration_s": self.duration_s,
        }
        if self.note:
            data["note"] = self.note
        return data


@dataclass
class RunRecord:
    book: Runbook
    params: dict[str, Any]  # already masked
    options: dict[str, Any]
    started_at: datetime = field(default_factory=now)
    ended_at: datetime | None = None
    outcome: str = "running"  # running | succeeded | failed | quit | interrupted
    exit_code: int | None = None
    failed_step: int | None = None
    resume: str | None = None
    results: dict[int, StepResult] = field(default_factory=dict)
    who: dict[str, str] = field(default_factory=who)
    path: Path | None = None

    @property
    def duration_s(self) -> float | None:
        return round((self.ended_at - self.started_at).total_seconds(), 3) if self.ended_at else None

    def meta(self) -> dict[str, Any]:
        return {
            "ublog_runbook_run": 1,
            "runbook": self.book.name,
            "title": self.book.title,
            "source": str(self.book.path),
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration_s": self.duration_s,
            **self.who,
            "params": self.params,
            "options": self.options,
            "failed_step": self.failed_step,
            "resume": self.resume,
            "steps": [self.results[n].summary() for n in sorted(self.results)],
        }

    # --- rendering -------------------------------------------------------------------------------------------
    def to_markdown(self, mask: Callable[[str], str]) -> str:
        import yaml

        # mask the values, then dump: masking the YAML text could break its syntax
        front = yaml.safe_dump(_mask_tree(self.meta(), mask), sort_keys=False, allow_unicode=True, width=1000)
        out = [f"---\n{front}---\n\n", self._header(mask)]
        for part in self.book.parts:
            if isinstance(part, Step):
                out.append(self._step(part, mask))
            else:
                out.append(part)
        return "".join(out)

    def _header(self, mask: Callable[[str], str]) -> str:
        params = ", ".join(f"`{k}={_plain(v)}`" for k, v in self.params.items()) or "none"
        rows = [
            ("runbook", f"`{self.book.name}` ({self.book.path.name})"),
            ("outcome", f"**{self.outcome}**" + (f" (exit {self.exit_code})" if self.exit_code is not None else "")),
            ("who", f"{self.who['user']}@{self.who['host']}" + _ci(self.who)),
            ("started", iso(self.started_at) or ""),
            ("ended", iso(self.ended_at) or "—"),
            ("duration", f"{self.duration_s:.1f} s" if self.duration_s is not None else "—"),
            ("parameters", params),
        ]
        if self.resume:
            rows.append(("resume with", f"`{self.resume}`"))
        table = "\n".join(f"| {k} | {v} |" for k, v in rows)
        return mask(f"> Executed copy of a runbook, written by `inv runbook.run`.\n\n| run | |\n|---|---|\n{table}\n\n")

    def _step(self, step: Step, mask: Callable[[str], str]) -> str:
        res = self.results.get(step.number)
        command = res.command if res else step.command
        fence = _fence(command)
        block = f"{fence}{step.info}\n{command.rstrip()}\n{fence}\n"
        if res is None:
            return mask(block + f"\n> {ICONS['not-run']} step {step.number} · `{step.name}` — not run\n")
        line = f"{ICONS.get(res.status, '')} **step {res.number} · `{res.name}` — {res.status}**"
        if res.exit_code is not None:
            line += f" · exit {res.exit_code} (expected {res.expected})"
        if res.edited:
            line += " · command edited at the prompt"
        if res.started_at:
            line += f" · {iso(res.started_at)} → {iso(res.ended_at) or '…'}"
        if res.duration_s is not None:
            line += f" · {res.duration_s:.1f} s"
        if res.note:
            line += f" · {res.note}"
        text = block + f"\n> {line}\n"
        if res.output_lines:
            omitted = res.output_lines - len(res.output_tail)
            if omitted > 0:
                text += f">\n> output: last {len(res.output_tail)} of {res.output_lines} lines ({omitted} omitted)\n"
            body = "\n".join(res.output_tail)
            ofence = _fence(body)
            text += f"\n{ofence}text\n{body}\n{ofence}\n"
        return mask(text)

    def write(self, mask: Callable[[str], str]) -> Path:
        """(Re)write the record atomically."""
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".md.tmp")
        tmp.write_text(self.to_markdown(mask), encoding="utf-8")
        tmp.replace(self.path)
        return self.path


def _ci(who_: Mapping[str, str]) -> str:
    if "github_actor" not in who_:
        return ""
    run = f", {who_['ci_run']}" if "ci_run" in who_ else ""
    return f" (GitHub Actions: {who_['github_actor']}{run})"


def _mask_tree(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: _mask_tree(v, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_tree(v, mask) for v in value]
    return value


def _plain(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _fence(text: str) -> str:
    """A backtick fence longer than any backtick run inside ``text`` (so output cannot break the record)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def new_record_path(runs_dir: Path, name: str, started: datetime) -> Path:
    stem = f"{started.strftime('%Y-%m-%dT%H-%M-%SZ')}-{name}"
    path = runs_dir / f"{stem}.md"
    n = 2
    while path.exists():
        path = runs_dir / f"{stem}-{n}.md"
        n += 1
    return path


def read_meta(path: Path) -> dict[str, Any] | None:
    """The machine part of a record, or None for a file that is not one."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---\n", 4)
    try:
        meta = yaml.safe_load(text[4:end]) if end > 0 else None
    except yaml.YAMLError:
        return None
    if not isinstance(meta, Mapping) or "ublog_runbook_run" not in meta:
        return None
    return {**meta, "path": str(path)}


def list_runs(runs_dir: Path, runbook: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Past runs, newest first (by file name, which starts with the UTC start time)."""
    if not runs_dir.is_dir():
        return []
    metas = []
    for path in sorted(runs_dir.glob("*.md"), reverse=True):
        meta = read_meta(path)
        if meta is None or (runbook and meta.get("runbook") != runbook):
            continue
        metas.append(meta)
        if limit and len(metas) >= limit:
            break
    return metas
