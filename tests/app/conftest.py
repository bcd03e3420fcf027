"""Fixtures of the plan-side tests (taskdef, lock, preflight, plan, status), all on the sandbox of tests/conftest.py:
its seeded alpha env (v1.2.2 everywhere, the pre-update family with its sidecar first, environment and secrets as
μblog's IaC writes them, the bootstrap's lock table) is exactly what these tests need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


def _make_cfg(**over: Any) -> Any:
    """Config for app env alpha on base env dev, with extra settings by dotted path."""
    from ublog_ops.config import load_config

    return load_config(flags={"env": "alpha", "base_env": "dev", **over}, environ={}, dotenv_path=None)


@pytest.fixture
def make_cfg():
    """``make_cfg(**settings)`` -> Config for alpha with those settings (dotted paths, e.g. ``{"lock.ttl": 5}``)."""
    return _make_cfg


@dataclass
class AlphaEnv:
    sandbox: Any
    aws: Any  # ublog_ops.aws.Aws (records its calls; tests assert on them)
    cfg: Any
    names: Any
    seeded: Any  # ids the sandbox seeded: task_definitions {name: arn}, images {kind: {tag: digest}}, secret_arn …

    def client(self, service: str) -> Any:
        """A plain boto3 client for arranging state (its calls are not in ``aws.calls``)."""
        return self.sandbox.client(service)

    def fresh_aws(self) -> Any:
        from ublog_ops.aws import Aws

        return Aws(region=self.sandbox.region)


@pytest.fixture
def alpha(sandbox):
    """The freshly seeded sandbox as an :class:`AlphaEnv`."""
    from ublog_ops.aws import Aws

    cfg = _make_cfg()
    return AlphaEnv(sandbox, Aws(region=sandbox.region), cfg, cfg.names(), sandbox.seeded)
