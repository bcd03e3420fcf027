"""CloudWatch Logs tailing that loses no line.

A :class:`StreamTail` reads one log stream from its head with ``GetLogEvents(startFromHead=True)`` and follows
``nextForwardToken``: every event is returned exactly once, in stream order, however often it is polled. The stream
may not exist yet (the container has not started, or never will): that is "no events yet", not an error.
:class:`TaskLogs` tails every awslogs container of one ECS task (stream ``{prefix}/{container}/{task-id}``) and
merges their new events by timestamp.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .aws import client_error_code

#: Safety net against a misbehaving endpoint that never repeats the token: pages fetched per poll and stream.
MAX_PAGES_PER_POLL = 1000


@dataclass(frozen=True)
class LogLine:
    """One log event of one container."""

    container: str
    timestamp: int  #: milliseconds since the epoch, as CloudWatch reports it
    message: str


@dataclass(frozen=True)
class StreamRef:
    """Where the awslogs driver writes one container's output."""

    container: str
    group: str
    stream: str
    region: str | None = None


class StreamTail:
    """Follow one log stream from its head; each :meth:`poll` returns only events not returned before."""

    def __init__(
        self, logs: Any, group: str, stream: str, *, container: str = "", page_size: int | None = None
    ) -> None:
        self.logs = logs
        self.page_size = page_size
        self.group = group
        self.stream = stream
        self.container = container
        self.token: str | None = None
        self.count = 0
        self.exists = False

    def poll(self, *, to_end: bool = True) -> list[LogLine]:
        """Events appended since the last poll, oldest first; [] if the stream does not exist.

        ``to_end`` reads every page up to the end of the stream (the token comes back unchanged); without it one
        page is read (live following: the next poll continues from the token, so nothing is skipped)."""
        out: list[LogLine] = []
        for _ in range(MAX_PAGES_PER_POLL if to_end else 1):
            kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True}
            if self.token:
                kwargs["nextToken"] = self.token
            if self.page_size:
                kwargs["limit"] = self.page_size
            try:
                page = self.logs.get_log_events(**kwargs)
            except Exception as exc:
                if client_error_code(exc) == "ResourceNotFoundException":
                    return out  # group or stream not created yet
                raise
            self.exists = True
            events = page.get("events", [])
            out.extend(
                LogLine(self.container, int(e.get("timestamp", 0)), str(e.get("message", "")).rstrip("\r\n"))
                for e in events
            )
            new_token = page.get("nextForwardToken")
            unchanged = new_token == self.token
            if new_token:
                self.token = new_token
            # The end of the stream is signalled by the same token coming back. An empty page with a new token
            # is not the end (CloudWatch documents that it may return empty pages while more events follow).
            if unchanged or not new_token:
                break
        self.count += len(out)
        return out


def awslogs_streams(container_definitions: Iterable[Mapping[str, Any]], task_id: str) -> list[StreamRef]:
    """The awslogs streams of a task's containers (``{awslogs-stream-prefix}/{container}/{task-id}``).

    Containers that log elsewhere (FireLens, splunk, no log configuration) or without a stream prefix (which
    awslogs on Fargate requires) have no stream we can follow and are skipped.
    """
    refs = []
    for cdef in container_definitions:
        conf = cdef.get("logConfiguration") or {}
        opts = conf.get("options") or {}
        if conf.get("logDriver") != "awslogs" or not opts.get("awslogs-group") or not opts.get("awslogs-stream-prefix"):
            continue
        name = cdef["name"]
        refs.append(
            StreamRef(
                container=name,
                group=opts["awslogs-group"],
                stream=f"{opts['awslogs-stream-prefix']}/{name}/{task_id}",
                region=opts.get("awslogs-region"),
            )
        )
    return refs


class TaskLogs:
    """Tail the awslogs streams of one task's containers; :meth:`poll` merges new lines by timestamp.

    ``logs_for_region(region)`` returns a CloudWatch Logs client for a region (containers may log to another
    region than the session's); it is called once per distinct region.
    """

    def __init__(self, refs: Iterable[StreamRef], logs_for_region: Any) -> None:
        clients: dict[str | None, Any] = {}
        self.tails: list[StreamTail] = []
        for ref in refs:
            if ref.region not in clients:
                clients[ref.region] = logs_for_region(ref.region)
            self.tails.append(StreamTail(clients[ref.region], ref.group, ref.stream, container=ref.container))

    @property
    def containers(self) -> list[str]:
        return [t.container for t in self.tails]

    @property
    def count(self) -> int:
        return sum(t.count for t in self.tails)

    def poll(self, *, to_end: bool = True) -> list[LogLine]:
        lines: list[LogLine] = []
        for tail in self.tails:
            lines.extend(tail.poll(to_end=to_end))
        # Stable sort: within one stream the order CloudWatch gave is kept.
        lines.sort(key=lambda line: line.timestamp)
        return lines
