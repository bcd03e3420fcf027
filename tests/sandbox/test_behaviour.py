"""The behaviour file: shipped defaults, layering of a user file or dict, validation."""

from __future__ import annotations

import json

import pytest

from ublog_ops.sandbox.behaviour import DEMO_TAGS, BehaviourError, failure_threshold, load_behaviour

from .helpers import finish, run


def test_shipped_behaviour_covers_the_documented_tags():
    b = load_behaviour()
    assert b.time_scale == 0.1
    for tag in ("v1.2.2", "v1.2.3", "v1.2.4", "v1.3.0-migrate-fails", "v1.3.0-pull-error", "v1.3.0-crashloop"):
        assert tag in b.pushed_tags()
    assert set(DEMO_TAGS.values()) <= set(b.tags)
    assert b.one_off("v1.2.3")["exit_code"] == 0
    assert b.one_off("v1.3.0-migrate-fails")["exit_code"] == 3
    assert b.one_off("v1.3.0-pull-error")["fail_to_start"].startswith("CannotPullContainerError")
    assert b.service("v1.3.0-crashloop")["crash_after_seconds"] is not None
    assert b.service("v1.2.3")["crash_after_seconds"] is None
    assert b.service("v1.3.0-stall")["stall"] is True
    assert b.service("v1.3.0-slow")["healthy_seconds"] > b.service("v1.2.3")["healthy_seconds"]
    # A tag the file does not list behaves like the defaults (healthy).
    assert b.one_off("v7.0.0") == b.one_off("v1.2.3")


def test_a_user_file_is_layered_on_the_shipped_one(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"time_scale": 0.5, "tags": {"v1.3.0-migrate-fails": {"one_off": {"exit_code": 9}}}}))
    b = load_behaviour(path)
    assert b.time_scale == 0.5
    assert b.one_off("v1.3.0-migrate-fails")["exit_code"] == 9
    assert "IntegrityError" in " ".join(b.one_off("v1.3.0-migrate-fails")["logs"])  # untouched keys stay
    assert "v1.3.0-crashloop" in b.tags
    assert load_behaviour(path, time_scale=0.01).time_scale == 0.01


def test_yaml_file_and_unpushed_tags(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("tags:\n  v3.0.0-ghost:\n    pushed: false\n")
    b = load_behaviour(path)
    assert "v3.0.0-ghost" in b.tags
    assert "v3.0.0-ghost" not in b.pushed_tags()


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"tag": {}}, "unknown key(s) tag"),
        ({"tags": {"v1": {"service": {"stal": True}}}}, "tags.v1.service: unknown key(s) stal"),
        ({"tags": {"v1": {"one_off": {"exit_code": "3"}}}}, "exit_code must be an integer"),
        ({"defaults": {"service": {"healthy_seconds": -1}}}, "healthy_seconds must be a number >= 0"),
        ({"time_scale": 0}, "time_scale must be a number > 0"),
        ({"tags": ["v1"]}, "tags must be a mapping"),
    ],
)
def test_schema_errors_name_the_problem(layer, message):
    with pytest.raises(BehaviourError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_behaviour(layer)


def test_unreadable_or_broken_files(tmp_path):
    with pytest.raises(BehaviourError, match="cannot read behaviour file"):
        load_behaviour(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("tags: [unclosed\n")
    with pytest.raises(BehaviourError, match="not valid YAML"):
        load_behaviour(broken)


def test_circuit_breaker_threshold_as_ecs():
    assert [failure_threshold(None, d) for d in (1, 2, 6, 7, 10, 1000)] == [3, 3, 3, 4, 5, 200]
    assert failure_threshold(2, 10) == 2


@pytest.mark.parametrize(
    "sandbox_behaviour",
    [{"tags": {"v2.0.0-exit-5": {"one_off": {"exit_code": 5, "logs": ["custom {db_name}"]}}}}],
    indirect=True,
)
def test_a_test_can_bring_its_own_behaviour(sandbox):
    task = finish(sandbox, run(sandbox, "v2.0.0-exit-5"))  # the reset pushed the new tag to ECR
    main = next(c for c in task["containers"] if c["name"] == "backend_update")
    assert main["exitCode"] == 5
