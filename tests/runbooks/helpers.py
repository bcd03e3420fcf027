"""Shared helpers for the runbook tests: fixture runbooks, fixture task collections, the real task tree."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

from invoke import Collection

from ublog_ops.runbook.parser import load_runbook
from ublog_ops.tasks.base import ublog_task

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"


def write_runbook(directory: Path, name: str, text: str):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.md"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_runbook(path)


def real_ns() -> Collection:
    """The real root namespace (tasks.py at the repo root), loaded under a private module name."""
    spec = importlib.util.spec_from_file_location("ublog_root_tasks_for_tests", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns


# --- a small fixture task tree --------------------------------------------------------------------------------
@ublog_task
def plan(c, env=None, tag=None, out=None):
    """fixture"""


@ublog_task(positional=["plan_file"])
def apply(c, plan_file, yes=False):
    """fixture"""


@ublog_task(iterable=["to"])
def rollback(c, env=None, to=None):
    """fixture"""


@ublog_task
def status(c, env=None, json=False):
    """fixture"""


@ublog_task
def up(c):
    """fixture"""


def fixture_ns(*, rename_status: bool = False, plan_task=None) -> Collection:
    app = Collection("app")
    app.add_task(plan_task or plan, name="plan")
    app.add_task(apply, name="apply")
    app.add_task(rollback, name="rollback")
    app.add_task(status, name="state" if rename_status else "status")
    ns = Collection()
    ns.add_collection(app)
    ns.add_collection(Collection("sandbox", up))
    return ns


FIXTURE_BOOK = """
---
title: Fixture release
summary: plan, apply, check
params:
  env: {pattern: "[a-z]+", example: alpha}
  tag: {example: v1.2.3}
  to: {type: list, required: false, example: [alpha-gunicorn:3]}
---

# Release

```bash {name=up mutates=false}
inv sandbox.up
```

```bash {name=plan mutates=false}
inv app.plan --env {{ env }} --tag {{ tag }} --out release.json
```

```bash {name=apply}
inv app.apply release.json --yes
```

```bash {name=check mutates=false}
inv app.status --env {{ env }} && inv app.rollback --env {{ env }} {{ to | flag --to }}
```
"""
