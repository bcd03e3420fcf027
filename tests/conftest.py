"""Shared fixtures: the sandbox (a local AWS with an ECS behaviour model) for tests that drive AWS with boto3.

- ``sandbox_server`` (session): one running :class:`ublog_ops.sandbox.Sandbox` on 127.0.0.1, a free port.
- ``sandbox`` (function): the same sandbox, wiped and seeded again for this test (``reset(full=False)``: the base
  network, RDS instance, bucket and IAM roles — which deploy code only reads — are kept) with the behaviour of
  ``sandbox_behaviour`` / ``sandbox_time_scale``, and the AWS_* variables set (monkeypatch) so plain boto3
  clients — and our library through ``ublog_ops.aws.Aws`` — reach it. ``sandbox.client("ecs")`` gives a client too.
- ``sandbox_behaviour``: None (the shipped behaviour.yaml). Override it in a module or test to return a dict
  (layered on the shipped file): define a ``sandbox_behaviour`` fixture in a test module, or for one test
  ``@pytest.mark.parametrize("sandbox_behaviour", [{"tags": {...}}], indirect=True)``.
- ``sandbox_time_scale``: wall seconds per sandbox second in tests (default :data:`TEST_TIME_SCALE`).
"""

from __future__ import annotations

import os

import pytest

#: Tests run the sandbox 50x faster than AWS: a healthy rollout takes ~1-2 s.
TEST_TIME_SCALE = 0.02


@pytest.fixture(scope="session")
def sandbox_server():
    from ublog_ops.sandbox import Sandbox

    sb = Sandbox(host="127.0.0.1", port=0, time_scale=TEST_TIME_SCALE)
    sb.start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sandbox_behaviour(request):
    """The behaviour (dict or path) for this test's sandbox; None = the shipped defaults.
    ``@pytest.mark.parametrize("sandbox_behaviour", [{...}], indirect=True)`` sets it for one test."""
    return getattr(request, "param", None)


@pytest.fixture
def sandbox_time_scale(request):
    """Wall seconds per sandbox second; parametrize indirectly like ``sandbox_behaviour`` to change it."""
    return getattr(request, "param", TEST_TIME_SCALE)


@pytest.fixture
def sandbox(sandbox_server, sandbox_behaviour, sandbox_time_scale, monkeypatch):
    """The session sandbox, reset and reseeded for this test, with AWS_* variables pointing at it."""
    from ublog_ops.sandbox import UNSET_VARS

    sandbox_server.set_behaviour(sandbox_behaviour, time_scale=sandbox_time_scale)
    sandbox_server.reset(full=False)
    for var in UNSET_VARS:
        monkeypatch.delenv(var, raising=False)
    for var in list(os.environ):
        if var.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(var)
    for var, value in sandbox_server.env_vars().items():
        monkeypatch.setenv(var, value)
    yield sandbox_server
