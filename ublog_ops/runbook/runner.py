"""The notebook-style runner: show a step, ask before it changes something, run it streaming its output, record it.

- Read-only steps (``mutates=false``) run without asking; before a mutating step the operator answers
  ``r``un / ``s``kip / ``e``dit / ``q``uit (``--yes`` answers "run" to every prompt). Input and output are injected
  streams, so the prompt is driven by tests exactly as an operator drives it.
- Each step runs as ``bash -eo pipefail -c COMMAND`` in its own process group, stdin closed (steps never prompt —
  the runner does), with the runbook's ``env_file`` (if present) loaded and this Python's ``bin`` first on PATH so
  ``inv`` is the same installation. Output streams line by line, masked.
- The first step whose exit code differs from its ``expect`` stops the run; the exact resume command
  (``… --from N``) is printed and recorded. Ctrl-C stops the running step (SIGINT to its process group) and is
  recorded the same way.
- ``--dry-run`` prints the resolved commands and runs nothing (no record).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ExitStatus
from . import params as P
from .mask import Masker, secret_env_values
from .parser import Runbook, Step
from .process import parse_env_file, run_streaming
from .record import MAX_LINE, TAIL_LINES, RunRecord, StepResult, new_record_path, now
from .render import console_for, step_panel

ANSWERS = {
    "r": "run",
    "run": "run",
    "y": "run",
    "yes": "run",
    "s": "skip",
    "skip": "skip",
    "e": "edit",
    "edit": "edit",
    "q": "quit",
    "quit": "quit",
}


@dataclass
class RunResult:
    outcome: str  # succeeded | failed | quit | interrupted | dry-run
    exit_code: int
    steps: list[StepResult] = field(default_factory=list)
    failed_step: int | None = None
    resume: str | None = None
    record_path: Path | None = None


def resume_prefix(book: Runbook, given: Mapping[str, Any], yes: bool = False) -> list[str]:
    """``inv runbook.run NAME`` plus the parameters that were given explicitly (secret values never)."""
    argv = ["inv", "runbook.run", book.name]
    for name, value in given.items():
        param = book.params.get(name)
        if value is None or param is None or param.secret:
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            argv += [f"--{name}", str(item)] if name in ("env", "tag") else ["--param", f"{name}={item}"]
    if yes:
        argv.append("--yes")
    return argv


class Runner:
    def __init__(
        self,
        book: Runbook,
        values: Mapping[str, Any],
        *,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        yes: bool = False,
        dry_run: bool = False,
        start: int = 1,
        only: int | None = None,
        cwd: Path | None = None,
        environ: Mapping[str, str] | None = None,
        runs_dir: Path | None = None,
        resume_argv: list[str] | None = None,
        editor: Callable[[str], str | None] | None = None,
        tail_lines: int = TAIL_LINES,
    ) -> None:
        self.book = book
        self.values = dict(values)
        self.stdin = stdin or sys.stdin
        self.out = stdout or sys.stdout
        self.console = console_for(self.out)
        self.yes = yes
        self.dry_run = dry_run
        self.only = only
        self.start = start
        if only is not None:
            book.step(only)
        book.step(start)
        self.cwd = Path(cwd or Path.cwd())
        self.environ = dict(os.environ if environ is None else environ)
        self.runs_dir = runs_dir
        self.resume_argv = resume_argv or resume_prefix(book, {}, yes)
        self.editor = editor
        self.tail_lines = tail_lines
        self.mask = Masker(P.secret_values(book.params, self.values))
        self.mask.add(secret_env_values(self.environ))
        self.record: RunRecord | None = None

    # --- public ----------------------------------------------------------------------------------------------
    def selected(self) -> list[Step]:
        if self.only is not None:
            return [self.book.step(self.only)]
        return list(self.book.steps[self.start - 1 :])

    def command(self, step: Step) -> str:
        return P.render(step.command, self.values)

    def run(self) -> RunResult:
        steps = self.selected()
        if self.dry_run:
            return self._dry_run(steps)
        self._start_record()
        result = RunResult(outcome="succeeded", exit_code=0)
        step = steps[0]
        try:
            for step in steps:
                res = self._one(step)
                result.steps.append(res)
                self._save(res)
                if res.status == "quit":
                    res.status = "not-run"
                    res.note = "operator quit at the prompt"
                    return self._finish(result, "quit", int(ExitStatus.INTERRUPTED), step)
                if res.status == "interrupted":
                    return self._finish(result, "interrupted", int(ExitStatus.INTERRUPTED), step)
                if res.status in ("failed", "timeout"):
                    code = res.exit_code if res.exit_code not in (None, 0) and res.status == "failed" else 1
                    return self._finish(result, "failed", int(code or 1), step)
        except KeyboardInterrupt:  # at a prompt
            return self._finish(result, "interrupted", int(ExitStatus.INTERRUPTED), step)
        return self._finish(result, "succeeded", 0, None)

    # --- one step --------------------------------------------------------------------------------------------
    def _one(self, step: Step) -> StepResult:
        command = self.command(step)
        edited = False
        total = len(self.book.steps)
        while True:
            self.console.print()
            self.console.print(step_panel(step, self.mask(command), total))
            answer = "run" if (self.yes or not step.mutates) else self._ask(step)
            if answer == "edit":
                new = self._edit(command)
                if new is not None and new.strip():
                    edited = edited or new != command
                    command = new
                continue
            break
        res = StepResult(
            number=step.number,
            name=step.name,
            status="",
            command=self.mask(command),
            mutates=step.mutates,
            expected=step.expect,
            edited=edited,
        )
        if answer == "skip":
            res.status, res.note = "skipped", "skipped at the prompt"
            self._say(f"skipped step {step.number} ({step.name})")
            return res
        if answer == "quit":
            res.status = "quit"
            return res
        self._execute(step, command, res)
        return res

    def _ask(self, step: Step) -> str:
        token = str(self.values[step.confirm]) if step.confirm else None
        if token is not None:
            prompt = f"step {step.number} ({step.name}): type {token!r} to run it, or [s]kip / [e]dit / [q]uit: "
        else:
            prompt = f"step {step.number} ({step.name}) changes something. [r]un / [s]kip / [e]dit / [q]uit? "
        while True:
            self.out.write(prompt)
            self.out.flush()
            line = self.stdin.readline()
            if not line:  # EOF: nobody to answer
                self._say("no answer (input closed): quitting. Pass --yes to run unattended.")
                return "quit"
            if not _isatty(self.stdin):
                self.out.write(line if line.endswith("\n") else line + "\n")  # echo, so logs read like a session
            text = line.strip()
            if token is not None and text == token:
                return "run"
            answer = ANSWERS.get(text.lower())
            if answer and not (token is not None and answer == "run"):
                return answer
            self._say(f"type {token!r}, s, e or q" if token is not None else "please answer r, s, e or q")

    def _edit(self, command: str) -> str | None:
        """Edit a command: the injected editor, else $VISUAL/$EDITOR on a temp file, else lines from stdin.
        References are allowed in the edit and resolved again; an invalid edit keeps the old command."""
        if self.editor is not None:
            new = self.editor(command)
        elif self.environ.get("VISUAL") or self.environ.get("EDITOR"):
            new = self._external_editor(command, self.environ.get("VISUAL") or self.environ["EDITOR"])
        else:
            self._say("enter the new command; end with a line containing only '.'")
            lines = []
            while True:
                line = self.stdin.readline()
                if not line or line.rstrip("\n") == ".":
                    break
                lines.append(line)
            new = "".join(lines)
        if new is None:
            return None
        try:
            P.references(new, "edited command", self.book.params)
        except P.RunbookError as exc:
            self._say(f"edit not used: {exc.message}")
            return None
        return P.render(new, self.values)

    def _external_editor(self, command: str, editor: str) -> str | None:
        with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False, encoding="utf-8") as fh:
            fh.write(command)
            path = fh.name
        try:
            proc = subprocess.run([*shlex.split(editor), path], check=False)
            if proc.returncode != 0:
                self._say(f"editor exited {proc.returncode}: edit not used")
                return None
            return Path(path).read_text(encoding="utf-8")
        finally:
            os.unlink(path)

    # --- execution -------------------------------------------------------------------------------------------
    def env_file_values(self) -> dict[str, str | None]:
        """Variables of the runbook's env_file (if it exists now): ``export K=V`` / ``K=V`` set, ``unset A B``
        removes (value None) — the shell-sourceable file `inv sandbox.up` writes. Secret-looking values join the
        masker."""
        if not self.book.env_file:
            return {}
        path = self.cwd / P.render(self.book.env_file, self.values).strip("'\"")
        if not path.is_file():
            return {}
        loaded = parse_env_file(path.read_text(encoding="utf-8", errors="replace"))
        self.mask.add(secret_env_values({k: v for k, v in loaded.items() if v is not None}))
        return loaded

    def step_environ(self, step: Step) -> dict[str, str]:
        env = dict(self.environ)
        for key, value in self.env_file_values().items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        env["UBLOG_RUNBOOK"] = self.book.name
        env["UBLOG_RUNBOOK_STEP"] = str(step.number)
        return env

    def _execute(self, step: Step, command: str, res: StepResult) -> None:
        tail: deque[str] = deque(maxlen=self.tail_lines)
        res.started_at, res.status = now(), "running"
        self._save(res)

        def on_line(line: str) -> None:
            text = self.mask(line)
            self.out.write(text + "\n")
            self.out.flush()
            tail.append(text if len(text) <= MAX_LINE else text[:MAX_LINE] + " …")
            res.output_lines += 1

        def on_stop(reason: str) -> None:
            if reason == "timeout":
                self._say(f"step {step.number} ran longer than {step.timeout:g}s: stopping it")
            else:
                self._say("\ninterrupted: stopping the step (Ctrl-C again is ignored while it stops)")

        done = run_streaming(
            command, cwd=self.cwd, env=self.step_environ(step), on_line=on_line, on_stop=on_stop, timeout=step.timeout
        )
        res.ended_at = now()
        res.exit_code = done.exit_code
        self.env_file_values()  # the step may have written it (sandbox.up): mask what it holds in the record too
        res.output_tail = [self.mask(line) for line in tail]
        res.status = done.stopped or ("ok" if res.exit_code == step.expect else "failed")
        verdict = {
            "ok": "as expected",
            "failed": f"FAILED (expected exit {step.expect})",
            "timeout": "stopped: timeout",
            "interrupted": "stopped: interrupted",
        }[res.status]
        style = "green" if res.status == "ok" else "red"
        self.console.print(
            f"[{style}]→ step {step.number} ({step.name}): exit {res.exit_code}, {verdict}, "
            f"{res.duration_s or 0:.1f}s[/{style}]"
        )

    # --- bookkeeping -----------------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.out.write(self.mask(text) + "\n")
        self.out.flush()

    def _start_record(self) -> None:
        masked = {name: ("***" if self.book.params[name].secret else value) for name, value in self.values.items()}
        options = {"from": self.start, "only": self.only, "yes": self.yes, "cwd": str(self.cwd)}
        self.record = RunRecord(book=self.book, params=masked, options=options)
        if self.runs_dir is not None:
            self.record.path = new_record_path(self.runs_dir, self.book.name, self.record.started_at)
            self.record.write(self.mask)

    def _save(self, res: StepResult) -> None:
        if self.record is None:
            return
        self.record.results[res.number] = res
        if self.record.path is not None:
            self.record.write(self.mask)

    def _finish(self, result: RunResult, outcome: str, code: int, step: Step | None) -> RunResult:
        result.outcome, result.exit_code = outcome, code
        if step is not None:
            result.failed_step = step.number
            flag = ["--only", str(step.number)] if self.only is not None else ["--from", str(step.number)]
            result.resume = shlex.join([*self.resume_argv, *flag])
        rec = self.record
        if rec is not None:
            rec.outcome, rec.exit_code, rec.ended_at = outcome, code, now()
            rec.failed_step, rec.resume = result.failed_step, result.resume
            if rec.path is not None:
                result.record_path = rec.write(self.mask)
        self.console.print()
        if outcome == "succeeded":
            skipped = [r.number for r in result.steps if r.status == "skipped"]
            extra = f" (skipped: {', '.join(map(str, skipped))})" if skipped else ""
            self.console.print(f"[green]runbook {self.book.name}: every step ran as expected{extra}[/green]")
        else:
            assert step is not None
            why = {"failed": "failed", "quit": "stopped at your request", "interrupted": "interrupted"}[outcome]
            self.console.print(f"[red]runbook {self.book.name}: step {step.number} ({step.name}) {why}[/red]")
            self._say(f"resume with: {result.resume}")
        if result.record_path:
            self._say(f"record: {result.record_path}")
        return result

    def _dry_run(self, steps: list[Step]) -> RunResult:
        total = len(self.book.steps)
        self.console.print(f"dry run of {self.book.name}: {len(steps)} step(s), nothing is executed")
        for step in steps:
            self.console.print(step_panel(step, self.mask(self.command(step)), total))
        return RunResult(outcome="dry-run", exit_code=0)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
