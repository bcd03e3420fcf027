"""The rollout view: plain appended lines off a terminal, a rich Live table on one; new events shown once."""

from __future__ import annotations

import io

from rich.console import Console

from ublog_ops.progress import RolloutView, status_line
from ublog_ops.rollout import ServiceStatus


def _st(service, state="IN_PROGRESS", **kw):
    base = {
        "target": f"{service}:8",
        "primary": f"{service}:8",
        "rollout_state": "IN_PROGRESS",
        "running": 0,
        "desired": 1,
        "pending": 1,
        "deployments": 2,
    }
    base.update(kw)
    return ServiceStatus(service, state, **base)


def test_plain_mode_one_line_per_service_and_only_when_it_changes(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    out = io.StringIO()
    view = RolloutView(stream=out)
    assert not view.is_live  # a StringIO is no terminal
    with view:
        view.update(
            [
                _st("alpha-gunicorn", new_events=["01:02:03 (service alpha-gunicorn) has started 1 tasks"]),
                _st("alpha-beat"),
            ]
        )
        first = out.getvalue().splitlines()
        assert first[0] == "  alpha-gunicorn | 01:02:03 (service alpha-gunicorn) has started 1 tasks"
        assert first[1].startswith("alpha-gunicorn  IN_PROGRESS  alpha-gunicorn:8  0/1 running, 1 pending")
        assert first[2].startswith("alpha-beat      IN_PROGRESS")
        assert len(first) == 3

        # Same state, more time: nothing new is printed (CI logs stay short).
        view.update([_st("alpha-gunicorn", elapsed=12), _st("alpha-beat", elapsed=12)])
        assert out.getvalue().splitlines() == first

        view.update(
            [
                _st("alpha-gunicorn", "COMPLETED", rollout_state="COMPLETED", running=1, pending=0, deployments=1),
                _st(
                    "alpha-beat",
                    "ROLLED_BACK_BY_ECS",
                    primary="alpha-beat:7",
                    reason="ECS rolled back to alpha-beat:7: circuit breaker",
                    new_events=["01:03:00 (service alpha-beat) rolling back to alpha-beat:7"],
                ),
            ]
        )
    lines = out.getvalue().splitlines()[3:]
    assert (
        lines[0]
        == "alpha-gunicorn  COMPLETED    alpha-gunicorn:8  1/1 running, 0 pending  rollout COMPLETED  1 deployment  0s"
    )
    assert lines[1] == "  alpha-beat | 01:03:00 (service alpha-beat) rolling back to alpha-beat:7"
    assert "ROLLED_BACK_BY_ECS" in lines[2]
    assert "alpha-beat:8 (primary: alpha-beat:7)" in lines[2]
    assert lines[2].endswith("— ECS rolled back to alpha-beat:7: circuit breaker")


def test_live_mode_on_a_terminal_draws_a_table_and_prints_events_above_it(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200, color_system=None)
    view = RolloutView(console=console)
    assert view.is_live
    with view:
        view.update([_st("alpha-gunicorn", new_events=["01:02:03 has started 1 tasks"]), _st("alpha-web-ui")])
        view.update(
            [
                _st("alpha-gunicorn", "COMPLETED", running=1, pending=0),
                _st("alpha-web-ui", "STALLED", reason="no progress for 600 s"),
            ]
        )
    text = buf.getvalue()
    assert "alpha-gunicorn | 01:02:03 has started 1 tasks" in text
    assert text.count("has started 1 tasks") == 1  # an event is printed once, not with every redraw
    assert "COMPLETED" in text and "STALLED" in text and "no progress for 600 s" in text


def test_ci_forces_plain_lines_even_on_a_terminal(monkeypatch):
    monkeypatch.setenv("CI", "true")
    buf = io.StringIO()
    view = RolloutView(stream=buf, console=Console(file=buf, force_terminal=True))
    assert not view.is_live
    view.update([_st("alpha-default")])
    view.close()
    assert buf.getvalue().startswith("alpha-default  IN_PROGRESS")


def test_status_line_mentions_failed_tasks():
    line = status_line(_st("alpha-default", failed_tasks=3, elapsed=75))
    assert "3 failed tasks" in line
    assert line.endswith("1m15s")


def test_live_table_ends_with_its_wait_so_later_output_and_a_second_wait_come_below(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120, color_system=None)
    with RolloutView(console=console, title="rollout") as view:
        view.update([_st("alpha-gunicorn", "ROLLED_BACK_BY_ECS", reason="circuit breaker")])
        assert not view.active  # all finished: the live region was closed with its final frame
        console.print("==> rolling back 1 services")
        view.update([_st("alpha-gunicorn", target="alpha-gunicorn:7", primary="alpha-gunicorn:7")])
        assert view.active
        view.update([_st("alpha-gunicorn", "COMPLETED", target="alpha-gunicorn:7", primary="alpha-gunicorn:7")])
    text = buf.getvalue()
    first_table = text.index("ROLLED_BACK_BY_ECS")
    note = text.index("==> rolling back 1 services")
    assert first_table < note < text.rindex("COMPLETED")
    assert "alpha-gunicorn: circuit breaker" in text
