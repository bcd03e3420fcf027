"""Tasks: executable runbooks — `inv runbook.list|show|run|runs` (format and design: runbooks/README.md).

Thin: flags → ublog_ops.runbook (parser, runner, record, render) → output and exit code.
"""

from __future__ import annotations

import json as _json
import sys
from pathlib import Path
from typing import Any

from invoke import Context
from invoke.exceptions import Exit

from ..errors import ConfigError
from .base import config_from, ublog_task

HELP = {
    "name": "runbook name (file stem in runbooks/, e.g. app-update) — see inv runbook.list",
    "env": "value of the runbook's `env` parameter",
    "tag": "value of the runbook's `tag` parameter",
    "param": "NAME=VALUE for any other parameter (repeat; repeat a list parameter once per item)",
    "from_": "start at step N (earlier steps are not run; a failed run prints this for you)",
    "only": "run only step N",
    "dry_run": "print the resolved commands of the steps, run nothing",
    "yes": "do not ask before steps that change something (unattended / CI)",
    "json": "machine-readable output",
}


def _dirs(c: Context) -> tuple[Path, Path]:
    """(runbooks directory, runs directory): config/UBLOG_RUNBOOKS_DIR, else ./runbooks, else the repo's."""
    cfg = config_from(c)
    configured = cfg.get("runbook.dir")
    if configured:
        directory = Path(configured)
    elif (Path.cwd() / "runbooks").is_dir():
        directory = Path.cwd() / "runbooks"
    else:
        directory = Path(__file__).resolve().parents[2] / "runbooks"
    if not directory.is_dir():
        raise ConfigError(f"no runbooks directory {directory}", hint="set UBLOG_RUNBOOKS_DIR")
    runs = Path(cfg.get("runbook.runs_dir") or directory / "runs")
    return directory, runs


def _given(book: Any, env: str | None, tag: str | None, param: list[str] | None) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for flag, value in (("env", env), ("tag", tag)):
        if value is not None:
            if flag not in book.params:
                raise ConfigError(f"runbook {book.name} has no parameter {flag}", hint=f"drop --{flag}")
            given[flag] = value
    for item in param or []:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"bad --param {item!r}", hint="use --param NAME=VALUE")
        if key in ("env", "tag") and key in given:
            raise ConfigError(f"{key} given twice", hint=f"use --{key} only")
        spec = book.params.get(key)
        if spec is not None and spec.type == "list":
            given.setdefault(key, []).append(value)
        elif key in given:
            raise ConfigError(f"parameter {key} given twice", hint="only list parameters take several values")
        else:
            given[key] = value
    return given


def _step_number(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a step number", hint="steps are numbered from 1") from None
    return number


@ublog_task(name="list", help={"json": HELP["json"]})
def list_(c: Context, json: bool = False) -> None:
    """List the runbooks: name, number of steps, parameters (* = required), what each is for."""
    from ..runbook.parser import load_runbook, runbook_paths
    from ..runbook.render import console_for, runbooks_table

    directory, _ = _dirs(c)
    books = [load_runbook(p) for p in runbook_paths(directory)]
    if json:
        data = [
            {"name": b.name, "title": b.title, "summary": b.summary, "steps": len(b.steps), "params": list(b.params)}
            for b in books
        ]
        print(_json.dumps(data, indent=2))
        return
    console_for(sys.stdout).print(runbooks_table(books))


@ublog_task(help={k: HELP[k] for k in ("name", "env", "tag", "param")}, positional=["name"], iterable=["param"])
def show(c: Context, name: str, env: str | None = None, tag: str | None = None, param: list[str] | None = None) -> None:
    """Show a runbook in the terminal: parameters, prose and numbered steps (resolved when parameters are given)."""
    from ..runbook import params as P
    from ..runbook.parser import find_runbook
    from ..runbook.render import console_for, show_runbook

    directory, _ = _dirs(c)
    book = find_runbook(directory, name)
    given = _given(book, env, tag, param)
    commands = None
    if given:
        values = P.resolve(book.params, given, placeholders=True)
        commands = {s.number: P.render(s.command, values) for s in book.steps}
    show_runbook(book, console_for(sys.stdout), commands)


@ublog_task(
    help={k.rstrip("_"): v for k, v in HELP.items() if k != "json"},
    positional=["name"],
    iterable=["param"],
)
def run(
    c: Context,
    name: str,
    env: str | None = None,
    tag: str | None = None,
    param: list[str] | None = None,
    from_: str | None = None,
    only: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
) -> None:
    """Run a runbook step by step: asks before steps that change something (run/skip/edit/quit), streams output,
    stops at the first failure with the exact resume command, records the run under runbooks/runs/."""
    from ..runbook import params as P
    from ..runbook.parser import find_runbook
    from ..runbook.runner import Runner, resume_prefix

    directory, runs_dir = _dirs(c)
    book = find_runbook(directory, name)
    given = _given(book, env, tag, param)
    start = _step_number(from_, "--from") or 1
    only_n = _step_number(only, "--only")
    if only_n is not None and from_ is not None:
        raise ConfigError("--from and --only together", hint="use one of them")
    values = P.resolve(book.params, given, placeholders=dry_run)
    runner = Runner(
        book,
        values,
        yes=yes,
        dry_run=dry_run,
        start=start,
        only=only_n,
        runs_dir=runs_dir,
        resume_argv=resume_prefix(book, given, yes),
    )
    result = runner.run()
    if result.exit_code:
        raise Exit(code=result.exit_code)


@ublog_task(
    help={"runbook": "only runs of this runbook", "limit": "how many (newest first, default 20)", "json": HELP["json"]}
)
def runs(c: Context, runbook: str | None = None, limit: int = 20, json: bool = False) -> None:
    """List past runs recorded under runbooks/runs/: when, runbook, outcome, who, duration, parameters, file."""
    from ..runbook.record import list_runs
    from ..runbook.render import console_for, runs_table

    _, runs_dir = _dirs(c)
    metas = list_runs(runs_dir, runbook=runbook, limit=limit)
    if json:
        print(_json.dumps(metas, indent=2, default=str))
        return
    if not metas:
        print(f"no recorded runs in {runs_dir}" + (f" for {runbook}" if runbook else ""))
        return
    console_for(sys.stdout).print(runs_table(metas))
