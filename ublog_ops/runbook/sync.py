"""Do the runbooks and the Invoke task tree still agree?  (Run by the test suite against the real tree.)

1. Every ``inv …`` command in every step parses with Invoke's own parser (``invoke.parser.Parser`` over the
   collection's task contexts plus Invoke's core flags): the task exists, every flag exists and gets a value when
   it needs one, required positional arguments are there.  Parameters are filled with their sample values
   (example → default → ``<name>``) first.
2. Every step calls at least one ``inv`` task (runbooks mirror the tasks; plain shell belongs in a task).
3. Every task of the tree is called by at least one runbook or is listed in :data:`EXEMPT` with the reason.
   Stale exemptions (the task is gone, or a runbook now calls it) are reported too, so the list cannot rot.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from invoke import Collection, Program
from invoke.exceptions import ParseError
from invoke.parser import Parser

from . import params as P
from .parser import Runbook

#: Tasks that no runbook has to call — each with the reason.
EXEMPT: dict[str, str] = {
    # A runbook that runs runbooks would recurse; the runner is documented in runbooks/README.md instead.
    "runbook.run": "the runner itself",
    # The scripted tour (README's first command) starts and stops its own sandbox; getting-started walks the same
    # story step by step with the real tasks.
    "demo": "scripted tour with its own sandbox",
}

INV_NAMES = ("inv", "invoke")
OPERATORS = {";", "&&", "||", "|", "&", "(", ")", "|&", ";;"}


@dataclass(frozen=True)
class InvCall:
    runbook: str
    where: str  # file:line
    step: int
    step_name: str
    argv: tuple[str, ...]  # after `inv`

    @property
    def text(self) -> str:
        return shlex.join(["inv", *self.argv])


@dataclass(frozen=True)
class Problem:
    kind: str  # parse | no-inv | uncovered | stale-exemption | covered-exemption
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class SyncReport:
    problems: list[Problem] = field(default_factory=list)
    coverage: dict[str, list[str]] = field(default_factory=dict)  # task -> ["runbook step N", …]
    calls: list[InvCall] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        if self.ok:
            return f"runbooks and task tree agree: {len(self.calls)} inv commands, {len(self.coverage)} tasks covered"
        lines = [f"{len(self.problems)} sync problem(s):"]
        lines += [f"  - [{p.kind}] {p}" for p in self.problems]
        return "\n".join(lines)


def shell_commands(script: str) -> list[list[str]]:
    """Simple commands of a shell script (continuations joined, comments dropped, split at ; && || | & ( ))."""
    joined = re.sub(r"\\\n", " ", script)
    commands: list[list[str]] = []
    for line in joined.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        try:
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes: let the parser of the shell complain at run time
            tokens = line.split()
        for tok in tokens:
            if tok in OPERATORS:
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(tok)
        if current:
            commands.append(current)
    return commands


def _strip_env_assignments(words: list[str]) -> list[str]:
    i = 0
    while i < len(words) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[i]):
        i += 1
    return words[i:]


def inv_calls(book: Runbook) -> tuple[list[InvCall], list[Problem]]:
    """Every ``inv`` command of every step (parameters filled with samples); steps without one are problems."""
    values = P.resolve(book.params, {}, samples=True)
    calls: list[InvCall] = []
    problems: list[Problem] = []
    for step in book.steps:
        where = f"{book.path}:{step.line}"
        found = False
        for simple in shell_commands(P.render(step.command, values)):
            words = _strip_env_assignments(simple)
            if words and words[0].rsplit("/", 1)[-1] in INV_NAMES:
                calls.append(InvCall(book.name, where, step.number, step.name, tuple(words[1:])))
                found = True
        if not found:
            problems.append(Problem("no-inv", where, f"step {step.number} ({step.name}) calls no inv task"))
    return calls, problems


def task_index(collection: Collection) -> dict[str, str]:
    """Every name Invoke accepts for a task (canonical name, aliases, a collection's name for its default task)
    -> canonical dotted task name."""
    index: dict[str, str] = {}
    for name, aliases in collection.task_names.items():
        index[name] = name
        for alias in aliases:
            index[alias] = name
    return index


def parse_call(collection: Collection, call: InvCall) -> tuple[list[str], str | None]:
    """(task names the command runs, problem or None), parsed exactly as `inv` would parse it."""
    parser = Parser(initial=Program().initial_context, contexts=collection.to_contexts(ignore_unknown_help=True))
    try:
        result = parser.parse_argv(list(call.argv))
    except ParseError as exc:
        return [], str(exc)
    except ValueError as exc:  # a typed flag given a value of the wrong type
        return [], f"bad flag value ({exc})"
    names = [ctx.name for ctx in result if ctx.name]
    if not names and not any(arg.got_value for ctx in result for arg in ctx.args.values()):
        return [], "no task given"
    return names, None


def check(
    books: Iterable[Runbook],
    collection: Collection,
    exemptions: Mapping[str, str] | None = None,
) -> SyncReport:
    exemptions = EXEMPT if exemptions is None else exemptions
    report = SyncReport()
    index = task_index(collection)
    tasks = sorted(set(index.values()))
    for book in books:
        calls, problems = inv_calls(book)
        report.calls += calls
        report.problems += problems
        for call in calls:
            names, problem = parse_call(collection, call)
            if problem:
                # the command still names its task: credit it, so the report points at the command, not also
                # at an "uncovered" task
                names = [word for word in call.argv if word in index]
                report.problems.append(
                    Problem("parse", call.where, f"step {call.step} ({call.step_name}): `{call.text}` → {problem}")
                )
            for name in names:
                report.coverage.setdefault(index.get(name, name), []).append(f"{book.name} step {call.step}")
    for task in tasks:
        if task not in report.coverage and task not in exemptions:
            report.problems.append(
                Problem(
                    "uncovered",
                    f"task {task}",
                    "is in no runbook (call it from one, or add it to EXEMPT in ublog_ops/runbook/sync.py with why)",
                )
            )
    for task, why in exemptions.items():
        if task not in index:
            report.problems.append(Problem("stale-exemption", f"exemption {task}", f"no such task ({why})"))
        elif index[task] in report.coverage:
            used = ", ".join(report.coverage[index[task]])
            report.problems.append(
                Problem("covered-exemption", f"exemption {task}", f"is called by {used}: drop the exemption")
            )
    return report
