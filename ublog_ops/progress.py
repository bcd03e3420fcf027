"""A compact live view of a rollout: one line per service, plus each service's new events as they appear.

On a terminal it is a rich ``Live`` table redrawn in place (events scroll above it); elsewhere (CI, a pipe, a file)
it appends plain lines, and a service's line is printed again only when something in it changed, so logs stay
short. Feed it with ``on_poll=view.update`` (see :func:`ublog_ops.rollout.wait_for_services`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from .rollout import COMPLETED, IN_PROGRESS, ServiceStatus

STATE_STYLE = {
    IN_PROGRESS: "cyan",
    COMPLETED: "green",
    "FAILED": "bold red",
    "ROLLED_BACK_BY_ECS": "bold red",
    "SUPERSEDED": "yellow",
    "STALLED": "bold red",
    "TIMEOUT": "bold red",
    "ABORTED": "yellow",
}


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _revision(st: ServiceStatus) -> str:
    if st.primary and st.primary != st.target:
        return f"{st.target} (primary: {st.primary})"
    return st.target


def _short_revision(st: ServiceStatus) -> str:
    """``:8`` when the family is named like the service (μblog's naming), else the full ``family:revision``."""

    def short(rev: str) -> str:
        family, _, number = rev.rpartition(":")
        return f":{number}" if family == st.service else rev

    if st.primary and st.primary != st.target:
        return f"{short(st.target)} (primary {short(st.primary)})"
    return short(st.target)


def status_line(st: ServiceStatus, width: int = 0, *, elapsed: bool = True) -> str:
    """One plain line for a service, e.g. ``alpha-gunicorn  IN_PROGRESS  alpha-gunicorn:8  1/2 running …``."""
    parts = [
        f"{st.service:<{width}}",
        f"{st.state:<11}",
        _revision(st),
        f"{st.running}/{st.desired} running, {st.pending} pending",
        f"rollout {st.rollout_state or '-'}",
        f"{st.deployments} deployment{'s' if st.deployments != 1 else ''}",
    ]
    if st.failed_tasks:
        parts.append(f"{st.failed_tasks} failed tasks")
    if elapsed:
        parts.append(_elapsed(st.elapsed))
    line = "  ".join(parts)
    if st.reason and st.finished:
        line += f"  — {st.reason}"
    return line


class RolloutView:
    """Live rollout display; use as a context manager and pass :meth:`update` as ``on_poll``.

    ``stream`` (default stdout) or a ready ``console`` (rich) can be injected; ``live`` forces the mode (default:
    live when the console is a terminal and ``CI`` is not set).
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        console: Any = None,
        live: bool | None = None,
        title: str = "rollout",
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._console = console
        self._live_wanted = live
        self.title = title
        self._live: Any = None
        self._printed: dict[str, str] = {}
        self.statuses: list[ServiceStatus] = []

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console

    @property
    def is_live(self) -> bool:
        if self._live_wanted is not None:
            return self._live_wanted
        return bool(self.console.is_terminal) and not os.environ.get("CI")

    @property
    def active(self) -> bool:
        """A live table is on screen (between the first poll of a wait and its end)."""
        return self._live is not None

    def __enter__(self) -> RolloutView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._table(), refresh=True)
            self._live.stop()
            self._live = None

    def update(self, statuses: Sequence[ServiceStatus]) -> None:
        """Show one poll: new events first, then the per-service lines."""
        self.statuses = list(statuses)
        if self.is_live:
            self._update_live()
        else:
            self._update_plain()

    # --- plain (CI, pipes) ----------------------------------------------------------------------------------
    def _update_plain(self) -> None:
        width = max((len(s.service) for s in self.statuses), default=0)
        out = []
        for st in self.statuses:
            out.extend(f"  {st.service} | {event}" for event in st.new_events)
            key = status_line(st, width, elapsed=False)
            if self._printed.get(st.service) != key:
                self._printed[st.service] = key
                out.append(status_line(st, width))
        if out:
            self.stream.write("\n".join(out) + "\n")
            self.stream.flush()

    # --- live (terminal) ------------------------------------------------------------------------------------
    def _update_live(self) -> None:
        from rich.live import Live
        from rich.text import Text

        if self._live is None:
            self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        for st in self.statuses:
            for event in st.new_events:
                self._live.console.print(Text.assemble((f"  {st.service} | ", "dim"), event))
        self._live.update(self._table(), refresh=True)
        if self.statuses and all(st.finished for st in self.statuses):
            self.close()  # this wait is over: later output (a rollback's wait too) starts below the final table

    def _table(self) -> Any:
        """The table (one row per service), then one wrapped line per finished service that has a reason."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title=self.title, title_justify="left", box=None, pad_edge=False, show_edge=False)
        table.add_column("service", no_wrap=True)
        table.add_column("state", no_wrap=True, min_width=max((len(st.state) for st in self.statuses), default=5))
        table.add_column("rev", overflow="fold")
        table.add_column("tasks", overflow="fold")
        table.add_column("rollout", no_wrap=True)
        table.add_column("time", no_wrap=True, justify="right")
        reasons = []
        for st in self.statuses:
            extra = [f"{st.pending} pending"] * bool(st.pending) + [f"{st.failed_tasks} failed"] * bool(st.failed_tasks)
            tasks = f"{st.running}/{st.desired}" + (f" ({', '.join(extra)})" if extra else "")
            style = STATE_STYLE.get(st.state, "")
            table.add_row(
                st.service,
                Text(st.state, style=style),
                _short_revision(st),
                tasks,
                st.rollout_state or "-",
                _elapsed(st.elapsed),
            )
            if st.finished and st.reason:
                reasons.append(Text.assemble(("  " + st.service + ": ", style), st.reason))
        return Group(table, *reasons)
