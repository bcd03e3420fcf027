"""Fixtures of the plan-side tests: the alpha app env seeded into in-process moto exactly as the sandbox seeds it
(same seed functions, so the same names, images, sidecar, environment and secrets), for tests that need no ECS
behaviour. Tests that need ECS behaviour (deployments in progress, tasks that exit) use the ``sandbox`` fixture of
tests/conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

REGION = "eu-west-1"


@dataclass
class AlphaEnv:
    aws: Any  # ublog_ops.aws.Aws whose calls the tests inspect
    cfg: Any  # ublog_ops.config.Config for env alpha
    names: Any
    seeded: Any  # ublog_ops.sandbox.seed.Seeded
    client: Any  # plain boto3 client factory for arranging state (its calls are not recorded)

    def fresh_aws(self) -> Any:
        """A new Aws (empty call log) on the same moto state."""
        from ublog_ops.aws import Aws

        return Aws(region=REGION)


def make_cfg(**over: Any) -> Any:
    from ublog_ops.config import load_config

    flags = {"env": "alpha", "base_env": "dev", **over}
    return load_config(flags=flags, environ={}, dotenv_path=None)


@pytest.fixture
def alpha_moto(monkeypatch):
    """moto (in-process) seeded with base env dev + app env alpha on v1.2.2; services report running == desired."""
    import boto3
    from moto import mock_aws

    from ublog_ops.aws import Aws
    from ublog_ops.sandbox.behaviour import load_behaviour
    from ublog_ops.sandbox.seed import seed_app, seed_base

    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")  # moto: a created service is stable (running == desired)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        cfg = make_cfg()
        names = cfg.names()
        base = seed_base(session.client, names, REGION)
        seeded = seed_app(session.client, names, REGION, load_behaviour(), base)
        yield AlphaEnv(aws=Aws(region=REGION), cfg=cfg, names=names, seeded=seeded, client=session.client)
