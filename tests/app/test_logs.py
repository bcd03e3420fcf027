"""CloudWatch log tailing against the sandbox's Logs (real boto3 calls): every line exactly once, in order."""

from __future__ import annotations

import time

import pytest

from ublog_ops.logs import StreamTail, TaskLogs, awslogs_streams

GROUP = "/ecs/test/tailing"  # not one the sandbox seeds


@pytest.fixture
def logs(sandbox):
    client = sandbox.client("logs")
    client.create_log_group(logGroupName=GROUP)
    return client


NOW = int(time.time() * 1000)  # CloudWatch rejects events older than 14 days


def put(logs, stream, messages, start=NOW):
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": start + i, "message": m} for i, m in enumerate(messages)],
    )


def test_missing_stream_is_no_events_then_every_line_exactly_once(logs):
    tail = StreamTail(logs, GROUP, "backend_update/backend_update/t1", container="backend_update")
    assert tail.poll() == []
    assert not tail.exists

    logs.create_log_stream(logGroupName=GROUP, logStreamName="backend_update/backend_update/t1")
    assert tail.poll() == []
    assert tail.exists

    put(logs, "backend_update/backend_update/t1", ["creating database alpha-db", "collectstatic: 120 files"])
    first = tail.poll()
    assert [line.message for line in first] == ["creating database alpha-db", "collectstatic: 120 files"]
    assert {line.container for line in first} == {"backend_update"}
    assert tail.poll() == []  # nothing new: nothing repeated

    put(logs, "backend_update/backend_update/t1", ["migrate: applying 0042", "done"], start=NOW + 1000)
    assert [line.message for line in tail.poll()] == ["migrate: applying 0042", "done"]
    assert tail.count == 4


def test_one_poll_follows_every_page(logs):
    stream = "backend_update/backend_update/t2"
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    messages = [f"line {i}" for i in range(25)]
    put(logs, stream, messages)
    tail = StreamTail(logs, GROUP, stream, page_size=4)
    assert [line.message for line in tail.poll()] == messages
    put(logs, stream, ["late 1", "late 2"], start=NOW + 100_000)
    assert [line.message for line in tail.poll()] == ["late 1", "late 2"]


def test_following_page_by_page_skips_nothing(logs):
    stream = "backend_update/backend_update/t5"
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    messages = [f"line {i}" for i in range(10)]
    put(logs, stream, messages)
    tail = StreamTail(logs, GROUP, stream, page_size=4)
    pages = [tail.poll(to_end=False) for _ in range(4)]
    assert [len(p) for p in pages] == [4, 4, 2, 0]
    assert [line.message for p in pages for line in p] == messages


def test_trailing_newlines_are_stripped_but_inner_text_kept(logs):
    stream = "p/c/t3"
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    put(logs, stream, ["Traceback (most recent call last):\n  File x\n", "plain\r\n"])
    assert [line.message for line in StreamTail(logs, GROUP, stream).poll()] == [
        "Traceback (most recent call last):\n  File x",
        "plain",
    ]


def test_awslogs_streams_follow_the_awslogs_naming():
    cdefs = [
        {
            "name": "backend_update",
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": GROUP, "awslogs-stream-prefix": "backend_update", "awslogs-region": "x-1"},
            },
        },
        {"name": "xray", "logConfiguration": {"logDriver": "awsfirelens", "options": {}}},
        {"name": "plain"},
        {"name": "noprefix", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": GROUP}}},
    ]
    refs = awslogs_streams(cdefs, "abc123")
    assert [(r.container, r.group, r.stream, r.region) for r in refs] == [
        ("backend_update", GROUP, "backend_update/backend_update/abc123", "x-1")
    ]


def test_task_logs_merges_containers_by_time(logs):
    for stream in ("app/app/t4", "app/sidecar/t4"):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    put(logs, "app/app/t4", ["a1", "a2"], start=NOW)
    put(logs, "app/sidecar/t4", ["s1"], start=NOW + 1)  # same time as a2: stable order
    put(logs, "app/sidecar/t4", ["s2"], start=NOW + 5000)
    cdefs = [
        {
            "name": name,
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": GROUP, "awslogs-stream-prefix": "app"},
            },
        }
        for name in ("app", "sidecar")
    ]
    regions = []

    def client_for(region):
        regions.append(region)
        return logs

    task_logs = TaskLogs(awslogs_streams(cdefs, "t4"), client_for)
    got = task_logs.poll()
    assert [(line.container, line.message) for line in got] == [
        ("app", "a1"),
        ("app", "a2"),
        ("sidecar", "s1"),
        ("sidecar", "s2"),
    ]
    assert [line.timestamp for line in got] == sorted(line.timestamp for line in got)
    assert regions == [None]  # one client per distinct region
    assert task_logs.poll() == []
    assert task_logs.count == 4
