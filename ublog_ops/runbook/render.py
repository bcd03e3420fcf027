"""Terminal views of runbooks (rich): the whole runbook with numbered steps, one step before it runs, lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import IO, Any

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from .parser import Runbook, Step


def console_for(stream: IO[str] | None = None, width: int | None = None) -> Console:
    """A console on ``stream``; colours only on a terminal, no wrapping of long commands."""
    return Console(file=stream, highlight=False, soft_wrap=False, width=width, emoji=False)


def step_title(step: Step, total: int) -> str:
    tags = [step.kind]
    if step.expect:
        tags.append(f"expects exit {step.expect}")
    if step.timeout:
        tags.append(f"timeout {step.timeout:g}s")
    return f"step {step.number}/{total} · {step.name} · {' · '.join(tags)}"


def step_panel(step: Step, command: str, total: int) -> Panel:
    style = "yellow" if step.mutates else "cyan"
    return Panel(
        Syntax(command.rstrip(), "bash", word_wrap=True, background_color="default"),
        title=step_title(step, total),
        title_align="left",
        border_style=style,
    )


def params_table(book: Runbook, values: Mapping[str, Any] | None = None) -> Table:
    table = Table(title="parameters", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("name", "value" if values else "default", "rules", "help"):
        table.add_column(col)
    for name, p in book.params.items():
        rules = []
        if p.required and p.default is None:
            rules.append("required")
        if p.type != "str":
            rules.append(p.type)
        if p.choices:
            rules.append("one of " + "|".join(p.choices))
        if p.pattern:
            rules.append(f"matches {p.pattern}")
        if p.secret:
            rules.append("secret")
        if p.from_env:
            rules.append(f"env {p.from_env}")
        if values is not None:
            shown = "***" if p.secret else _plain(values.get(name))
        else:
            shown = "—" if p.default is None else _plain(p.default)
        cells = (f"--{name}" if name in ("env", "tag") else name, shown, ", ".join(rules), p.help)
        table.add_row(*(Text(cell) for cell in cells))  # Text: patterns like [a-z] are not rich markup
    return table


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value))
    return "" if value is None else str(value)


def show_runbook(book: Runbook, console: Console, commands: Mapping[int, str] | None = None) -> None:
    """Prose rendered as markdown, steps as numbered panels (``commands``: resolved commands by step number)."""
    console.print(Text(book.title, style="bold"))
    if book.summary:
        console.print(Text(book.summary, style="italic"))
    if book.when:
        console.print(Text(f"when: {book.when}"))
    console.print()
    if book.params:
        console.print(params_table(book))
        console.print()
    total = len(book.steps)
    for part in book.parts:
        if isinstance(part, Step):
            command = (commands or {}).get(part.number, part.command)
            console.print(step_panel(part, command, total))
        elif part.strip():
            console.print(Markdown(part.strip()))
            console.print()
    usage = ["inv", "runbook.run", book.name]
    for name, p in book.params.items():
        if p.required and p.default is None and not p.from_env:
            usage += [f"--{name}", f"<{name}>"] if name in ("env", "tag") else ["--param", f"{name}=<{name}>"]
    console.print(Text("run it with: " + " ".join(usage) + "   (add --dry-run to see the commands only)"))


def runbooks_table(books: Iterable[Runbook]) -> Group:
    """One entry per runbook: name, steps and parameters (``*`` required), then what it is for."""
    lines: list[Text] = []
    for book in books:
        params = " ".join(
            f"{n}{'' if p.default is not None or not p.required else '*'}" for n, p in book.params.items()
        )
        line = Text.assemble((book.name, "bold"), f"  {len(book.steps)} steps", f"  [{params}]" if params else "")
        lines += [line, Text(f"    {book.summary or book.title}")]
        if book.when:
            lines.append(Text(f"    when: {book.when}", style="dim"))
    lines.append(Text("* required · read one with: inv runbook.show NAME"))
    return Group(*lines)


def runs_table(metas: Iterable[Mapping[str, Any]]) -> Group:
    """One entry per recorded run, newest first: when, runbook, outcome, steps, who, duration, params, file."""
    lines: list[Text] = []
    for m in metas:
        steps = m.get("steps") or []
        ok = sum(1 for s in steps if s.get("status") == "ok")
        outcome = str(m.get("outcome"))
        if m.get("exit_code") not in (None, 0):
            outcome += f" (exit {m['exit_code']})"
        if m.get("failed_step"):
            outcome += f" at step {m['failed_step']}"
        duration = m.get("duration_s")
        params = " ".join(f"{k}={_plain(v)}" for k, v in (m.get("params") or {}).items())
        style = "green" if m.get("outcome") == "succeeded" else "red"
        lines.append(
            Text.assemble(
                str(m.get("started_at", "")).replace("T", " ").rstrip("Z") + " UTC  ",
                (str(m.get("runbook")), "bold"),
                "  ",
                (outcome, style),
                f"  {ok}/{len(steps)} steps ok  {m.get('user')}@{m.get('host')}",
                f"  {duration:.0f}s" if isinstance(duration, (int, float)) else "",
            )
        )
        if params:
            lines.append(Text(f"    {params}"))
        lines.append(Text(f"    {m.get('path')}", style="dim"))
    return Group(*lines)
