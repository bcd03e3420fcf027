"""Release plan on the sandbox: made with reads only, JSON round trip without values, drift refused."""

from __future__ import annotations

import json

import pytest

from ublog_ops.errors import ConfigError, RefusedError
from ublog_ops.plan import FORMAT_VERSION, ReleasePlan, check_drift, describe_plan, make_plan
from ublog_ops.sandbox.seed import image_manifest
from ublog_ops.taskdef import MASK, latest_definition, register, render

FAMILIES = {"gunicorn", "default", "beat", "web-ui", "backend_update"}


def _values(alpha):
    """Values in the seeded definitions that must never be shown: env values and the secret's ARN."""
    return [alpha.seeded.rds_address, alpha.seeded.secret_arn, "ublog.settings", "https://alpha.example.com"]


def test_plan_writes_a_file_and_makes_no_mutating_call(alpha, tmp_path):
    plan = make_plan(alpha.aws, alpha.cfg, "v1.2.3")
    path = plan.save(tmp_path / "release.json")

    assert alpha.aws.mutating_calls() == []
    counts = alpha.aws.call_counts()
    assert counts["ecs:DescribeTaskDefinition"] == 5  # one per family
    assert counts["ecr:DescribeImages"] == 2 and counts["sts:GetCallerIdentity"] == 1
    assert counts["ecs:DescribeServices"] == 1

    data = json.loads(path.read_text())
    assert data["version"] == FORMAT_VERSION and data["env"] == "alpha" and data["cluster"] == "alpha-cluster"
    assert data["inputs"] == {"tag": "v1.2.3", "frontend_tag": None, "backend_only": False, "force": False}
    assert data["images"]["backend"]["digest"] == alpha.seeded.images["backend"]["v1.2.3"]
    assert data["images"]["frontend"]["digest"] == alpha.seeded.images["frontend"]["v1.2.3"]
    assert set(data["families"]) == FAMILIES
    gun = data["families"]["gunicorn"]
    assert gun["current_arn"] == alpha.seeded.task_definitions["gunicorn"] and gun["current_revision"] == 1
    assert gun["rendered"]["containerDefinitions"][0]["image"] == alpha.sandbox.image("backend", "v1.2.3")
    assert gun["diff"] == [
        f"~ containerDefinitions[gunicorn].image: {alpha.sandbox.image('backend', 'v1.2.2')} -> "
        f"{alpha.sandbox.image('backend', 'v1.2.3')}"
    ]
    pre = data["families"]["backend_update"]["rendered"]["containerDefinitions"]
    assert pre[0]["name"] == "otel-collector" and pre[0]["image"].endswith("aws-otel-collector:v0.40.0")
    assert data["families"]["web-ui"]["rendered"]["containerDefinitions"][0]["image"].endswith("ublog-frontend:v1.2.3")
    svc = data["services"]["beat"]
    assert svc["service"] == "alpha-beat" and svc["current_task_definition"] == alpha.seeded.task_definitions["beat"]
    assert svc["current_desired"] == 1 and svc["target_desired"] == 1
    assert svc["network_configuration"]["awsvpcConfiguration"]["subnets"] == list(alpha.seeded.private_subnets)
    assert data["pre_update"]["family"] == "alpha-backend_update"
    assert data["pre_update"]["container"] == "backend_update" and data["pre_update"]["command"] is None


def test_saved_plan_holds_no_values_and_apply_restores_them(alpha, tmp_path):
    plan = make_plan(alpha.aws, alpha.cfg, "v1.2.3")
    assert alpha.seeded.secret_arn in json.dumps(plan.to_dict())  # in memory the plan can register
    path = plan.save(tmp_path / "release.json")
    text = path.read_text()
    for value in _values(alpha):
        assert value not in text, value
    assert MASK in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    loaded = ReleasePlan.load(path)
    assert loaded.to_dict(redact=True) == plan.to_dict(redact=True)
    assert loaded.redacted
    aws = alpha.fresh_aws()
    check_drift(aws, loaded)
    assert aws.mutating_calls() == []
    for name, fam in plan.families.items():
        assert loaded.families[name]["rendered"] == fam["rendered"], name
    assert not loaded.redacted


def test_values_appear_only_with_show_values(alpha):
    plan = make_plan(alpha.aws, alpha.cfg, "v1.2.3")
    for text in (describe_plan(plan), json.dumps(plan.to_dict(redact=True))):
        for value in _values(alpha):
            assert value not in text, value

    shown = make_plan(alpha.fresh_aws(), alpha.cfg, "v1.2.3", show_values=True)
    assert "diff_values" in shown.families["gunicorn"]
    assert "diff_values" not in shown.to_dict(redact=True)["families"]["gunicorn"]


def test_describe_plan_tells_what_will_happen(alpha):
    text = describe_plan(make_plan(alpha.aws, alpha.cfg, "v1.2.3"))
    assert "alpha-gunicorn:1 -> alpha-gunicorn:<new>" in text
    assert "~ containerDefinitions[gunicorn].image: …/ublog-backend:v1.2.2 -> …/ublog-backend:v1.2.3" in text
    assert "Images (registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com, shown as …/ below):" in text
    assert "ublog-backend:v1.2.3  sha256:" in text
    assert "Pre-update: one task of alpha-backend_update (container backend_update), command: python manage.py" in text
    assert "alpha-web-ui" in text and "desired 1 (kept)" in text
    assert "none is deregistered" in text


def test_desired_count_zero_takes_the_configured_count(alpha, make_cfg):
    alpha.client("ecs").update_service(cluster="alpha-cluster", service="alpha-beat", desiredCount=0)
    cfg = make_cfg(**{"desired_counts.beat": 2})
    plan = make_plan(alpha.aws, cfg, "v1.2.3")
    beat = plan.services["beat"]
    assert (beat["current_desired"], beat["target_desired"], beat["desired_from"]) == (0, 2, "config")
    assert plan.services["gunicorn"]["target_desired"] == 1
    assert "desired 0 -> 2 (from config)" in describe_plan(plan)


def test_service_behind_its_family_is_diffed_against_what_it_runs(alpha):
    ecs = alpha.client("ecs")
    newer = render(latest_definition(ecs, "alpha-gunicorn"), {})
    newer["containerDefinitions"][0]["environment"].append({"name": "FEATURE_TOKEN", "value": "tok-31337-secret"})
    register(ecs, newer)  # registered by the IaC, the service not updated yet

    plan = make_plan(alpha.aws, alpha.cfg, "v1.2.3")
    gun = plan.families["gunicorn"]
    assert gun["current_revision"] == 2 and gun["running_arn"].endswith("alpha-gunicorn:1")
    assert any(
        "alpha-gunicorn runs alpha-gunicorn:1, the family's latest is alpha-gunicorn:2" in w for w in plan.warnings
    )
    assert len(gun["diff"]) == 1  # vs the latest revision: only the image
    added = [line for line in gun["diff_from_running"] if "FEATURE_TOKEN" in line]
    assert added and MASK in added[0]
    text = describe_plan(plan)
    assert "the service runs alpha-gunicorn:1; compared with that:" in text and "FEATURE_TOKEN" in text
    assert "tok-31337-secret" not in text and "tok-31337-secret" not in plan.to_json()
    assert alpha.aws.mutating_calls() == []

    shown = make_plan(alpha.fresh_aws(), alpha.cfg, "v1.2.3", show_values=True)
    assert "tok-31337-secret" in describe_plan(shown)
    assert "tok-31337-secret" not in shown.to_json()  # a saved/printed plan never has them unless redact=False


def test_bad_configured_desired_count_is_rejected_before_any_aws_call(alpha, make_cfg):
    with pytest.raises(ConfigError, match="desired count for beat is 0"):
        make_plan(alpha.aws, make_cfg(**{"desired_counts.beat": 0}), "v1.2.3")
    assert alpha.aws.calls == []


def test_backend_only_plan_leaves_web_ui_alone(alpha):
    plan = make_plan(alpha.aws, alpha.cfg, "v1.2.3", backend_only=True)
    assert set(plan.families) == FAMILIES - {"web-ui"}
    assert set(plan.services) == {"gunicorn", "default", "beat"}
    assert set(plan.images) == {"backend"}


def test_pre_update_command_from_config(alpha, make_cfg):
    cfg = make_cfg(**{"pre_update.command": "python manage.py migrate --noinput"})
    plan = make_plan(alpha.aws, cfg, "v1.2.3")
    assert plan.pre_update["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "command override: python manage.py migrate --noinput" in describe_plan(plan)
    with pytest.raises(ConfigError, match="cannot be parsed"):
        make_plan(alpha.fresh_aws(), make_cfg(**{"pre_update.command": "python 'unclosed"}), "v1.2.3")


def test_invalid_tag_is_rejected_before_any_aws_call(alpha):
    with pytest.raises(ConfigError):
        make_plan(alpha.aws, alpha.cfg, "v1.2.3$(id)")
    assert alpha.aws.calls == []


def test_tag_missing_in_ecr_refuses_the_plan(alpha):
    with pytest.raises(RefusedError, match=r"tag v7\.0\.0 not found"):
        make_plan(alpha.aws, alpha.cfg, "v7.0.0")


def test_family_without_a_release_container_is_refused(alpha):
    ecs = alpha.client("ecs")
    rendered = render(latest_definition(ecs, "alpha-beat"), {})
    rendered["containerDefinitions"][0]["image"] = "public.ecr.aws/docker/library/busybox:1"
    register(ecs, rendered)
    with pytest.raises(RefusedError, match="no container of alpha-beat runs an image of ublog-backend"):
        make_plan(alpha.aws, alpha.cfg, "v1.2.3")


# --- drift ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def saved(alpha, tmp_path):
    path = make_plan(alpha.aws, alpha.cfg, "v1.2.3").save(tmp_path / "release.json")
    return lambda: ReleasePlan.load(path)


def test_newer_revision_since_the_plan_is_drift(alpha, saved):
    ecs = alpha.client("ecs")
    arn = register(ecs, render(latest_definition(ecs, "alpha-default"), {}))
    with pytest.raises(RefusedError) as exc:
        check_drift(alpha.fresh_aws(), saved())
    assert f"newer task-definition revisions: {arn.rsplit('/', 1)[-1]} (planned from :1)" in exc.value.message
    assert exc.value.status == 3 and "inv app.plan --env alpha --tag v1.2.3" in exc.value.hint


def test_applying_a_plan_twice_is_refused_with_a_hint(alpha, saved):
    ecs = alpha.client("ecs")
    for name in ("gunicorn", "default", "beat", "web-ui"):
        arn = register(ecs, render(latest_definition(ecs, f"alpha-{name}"), {}))
        ecs.update_service(cluster="alpha-cluster", service=f"alpha-{name}", taskDefinition=arn)
    with pytest.raises(RefusedError) as exc:
        check_drift(alpha.fresh_aws(), saved())
    assert "services run other revisions: alpha-gunicorn runs alpha-gunicorn:2 (planned from :1)" in exc.value.message
    assert "applied already" in exc.value.hint


def test_service_changed_since_the_plan_is_drift(alpha, saved):
    alpha.client("ecs").update_service(cluster="alpha-cluster", service="alpha-gunicorn", desiredCount=3)
    with pytest.raises(RefusedError, match="alpha-gunicorn desired count is 3 \\(planned from 1\\)"):
        check_drift(alpha.fresh_aws(), saved())


def test_moved_tag_is_drift(alpha, saved):
    alpha.client("ecr").put_image(
        repositoryName="ublog-frontend", imageManifest=image_manifest("ublog-frontend", "rebuilt"), imageTag="v1.2.3"
    )
    with pytest.raises(RefusedError, match=r"tag v1\.2\.3 of ublog-frontend now points at"):
        check_drift(alpha.fresh_aws(), saved())


def test_edited_plan_file_is_refused(alpha, saved):
    plan = saved()
    plan.families["gunicorn"]["rendered"]["cpu"] = "4096"
    with pytest.raises(RefusedError, match="planned definition of alpha-gunicorn is not alpha-gunicorn:1"):
        check_drift(alpha.fresh_aws(), plan)


def test_plan_for_another_account_is_refused(alpha, saved):
    plan = saved()
    plan.account = "999999999999"
    with pytest.raises(RefusedError, match="plan is for account 999999999999"):
        check_drift(alpha.fresh_aws(), plan)


def test_fresh_plan_is_not_read_again_unless_asked(alpha):
    plan = make_plan(alpha.aws, alpha.cfg, "v1.2.3")
    aws = alpha.fresh_aws()
    check_drift(aws, plan)
    assert aws.calls == []  # made moments ago in this process: its reads are current
    ecs = alpha.client("ecs")
    register(ecs, render(latest_definition(ecs, "alpha-beat"), {}))
    with pytest.raises(RefusedError, match=r"newer task-definition revisions: alpha-beat:2 \(planned from :1\)"):
        check_drift(aws, plan, reuse_fresh=False)


def test_loading_bad_plan_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read release plan"):
        ReleasePlan.load(bad)
    bad.write_text(json.dumps({"version": 99, "kind": "ublog-ops/release-plan"}))
    with pytest.raises(ConfigError, match="format version 99"):
        ReleasePlan.load(bad)
    with pytest.raises(ConfigError, match="no plan file"):
        ReleasePlan.load(tmp_path / "missing.json")
