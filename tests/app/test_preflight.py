"""Preflight on the sandbox: reads only, every refusal with its reason, bad input before any AWS call."""

from __future__ import annotations

import pytest

from ublog_ops.errors import ConfigError, RefusedError
from ublog_ops.lock import DeployLock
from ublog_ops.preflight import preflight
from ublog_ops.taskdef import latest_definition, register, render

STALL = "v1.3.0-stall"


def test_preflight_resolves_digests_and_services_with_reads_only(alpha):
    pf = preflight(alpha.aws, alpha.cfg, "v1.2.3")

    assert pf.account == "123456789012" and pf.region == alpha.sandbox.region
    assert pf.identity_arn.startswith("arn:aws:")
    assert pf.cluster == "alpha-cluster"
    for kind in ("backend", "frontend"):
        ref = pf.images[kind]
        assert ref.repository == f"ublog-{kind}"
        assert ref.digest == alpha.seeded.images[kind]["v1.2.3"]
        assert ref.uri == alpha.sandbox.image(kind, "v1.2.3")
    assert ref.digest != alpha.seeded.images["frontend"]["v1.2.2"]
    assert set(pf.services) == {"gunicorn", "default", "beat", "web-ui"}
    assert pf.services["beat"]["serviceName"] == "alpha-beat"
    assert pf.warnings == []
    assert alpha.aws.mutating_calls() == []
    counts = alpha.aws.call_counts()
    assert counts["sts:GetCallerIdentity"] == 1
    assert counts["ecr:DescribeImages"] == 2  # one per repository
    assert counts["ecs:DescribeServices"] == 1


def test_backend_only_needs_no_frontend_image_and_skips_web_ui(alpha):
    pf = preflight(alpha.aws, alpha.cfg, "v1.2.3", backend_only=True)
    assert set(pf.images) == {"backend"}
    assert "web-ui" not in pf.services
    assert alpha.aws.call_counts()["ecr:DescribeImages"] == 1


def test_frontend_tag_is_resolved_separately(alpha):
    pf = preflight(alpha.aws, alpha.cfg, "v1.2.3", frontend_tag="v1.2.4")
    assert pf.images["backend"].tag == "v1.2.3"
    assert pf.images["frontend"].digest == alpha.seeded.images["frontend"]["v1.2.4"]


@pytest.mark.parametrize(
    ("cfg_over", "tag", "kwargs", "match"),
    [
        ({}, "v1.2.3 ; rm -rf /", {}, "invalid image tag"),
        ({}, "", {}, "no image tag"),
        ({"env": "Alpha_1"}, "v1.2.3", {}, "invalid env"),
        ({}, "v1.2.3", {"frontend_tag": "bad tag"}, "invalid image tag"),
        ({}, "v1.2.3", {"frontend_tag": "v1", "backend_only": True}, "contradict"),
        ({"names": {"cluster": "{nope}-x"}}, "v1.2.3", {}, "unknown placeholder"),
    ],
)
def test_bad_input_is_rejected_before_any_aws_call(alpha, make_cfg, cfg_over, tag, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        preflight(alpha.aws, make_cfg(**cfg_over), tag, **kwargs)
    assert alpha.aws.calls == []


def test_tag_missing_in_ecr_is_refused(alpha):
    with pytest.raises(RefusedError) as exc:
        preflight(alpha.aws, alpha.cfg, "v9.9.9")
    assert "tag v9.9.9 not found in ECR repository ublog-backend" in exc.value.message
    assert "ublog-frontend" in exc.value.message  # every problem at once
    assert exc.value.status == 3
    assert alpha.aws.mutating_calls() == []


def test_missing_repository_and_service_are_named(alpha, make_cfg):
    alpha.client("ecs").delete_service(cluster="alpha-cluster", service="alpha-beat", force=True)
    with pytest.raises(RefusedError) as exc:
        preflight(alpha.aws, make_cfg(ecr_prefix="other"), "v1.2.3")
    assert "ECR repository other-backend not found" in exc.value.message
    assert "alpha-beat" in exc.value.message
    assert "alpha-gunicorn" not in exc.value.message


def test_missing_cluster_is_refused(alpha, make_cfg):
    with pytest.raises(RefusedError, match="cluster beta-cluster"):
        preflight(alpha.aws, make_cfg(env="beta"), "v1.2.3")


def _start_stalled_rollout(alpha, name="default"):
    """A real rollout that never finishes: the service has two deployments, the new one IN_PROGRESS."""
    ecs = alpha.client("ecs")
    described = latest_definition(ecs, alpha.names.family(name))
    arn = register(ecs, render(described, {"ublog-backend": alpha.sandbox.image("backend", STALL)}))
    ecs.update_service(cluster="alpha-cluster", service=alpha.names.service(name), taskDefinition=arn)
    return arn


def test_deployment_in_progress_is_refused_unless_forced(alpha):
    _start_stalled_rollout(alpha)
    with pytest.raises(RefusedError) as exc:
        preflight(alpha.aws, alpha.cfg, "v1.2.3")
    assert "alpha-default has a deployment in progress" in exc.value.message
    assert "--force" in exc.value.hint
    assert "alpha-gunicorn" not in exc.value.message

    pf = preflight(alpha.fresh_aws(), alpha.cfg, "v1.2.3", force=True)
    assert any("alpha-default has a deployment in progress" in w for w in pf.warnings)


def test_held_lock_is_refused_even_with_force_and_an_expired_one_is_a_warning(alpha):
    ddb = alpha.client("dynamodb")
    lock = DeployLock(ddb, alpha.cfg.lock_table, "alpha", owner="ann@laptop")
    lock.acquire()
    with pytest.raises(RefusedError) as exc:
        preflight(alpha.aws, alpha.cfg, "v1.2.3", force=True)
    assert "held by ann@laptop" in exc.value.message
    assert "inv app.unlock --env alpha" in exc.value.hint
    assert alpha.aws.mutating_calls() == []
    lock.release()

    DeployLock(ddb, alpha.cfg.lock_table, "alpha", owner="old-ci", ttl=1, clock=lambda: 1_000_000).acquire()
    pf = preflight(alpha.fresh_aws(), alpha.cfg, "v1.2.3")
    assert pf.lock_holder["owner"] == "old-ci"
    assert any("expired deploy lock of old-ci" in w for w in pf.warnings)


def test_missing_credentials_are_bad_config_not_a_crash(monkeypatch, tmp_path, make_cfg):
    from ublog_ops.aws import Aws

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached
    with pytest.raises(ConfigError, match="no AWS credentials") as exc:
        preflight(Aws(region="eu-west-1"), make_cfg(), "v1.2.3")
    assert exc.value.status == 2 and "aws sso login" in exc.value.hint
