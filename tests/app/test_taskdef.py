"""Task definitions through real ECS calls (moto): exact-family lookup, retag render, masked diff, register."""

from __future__ import annotations

import copy

import pytest

from ublog_ops.errors import ConfigError, RefusedError
from ublog_ops.taskdef import (
    MASK,
    READ_ONLY_FIELDS,
    diff,
    image_containers,
    latest_definition,
    mask_values,
    register,
    render,
    unmask,
)

NEW = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ublog-backend:v1.2.3"

RICH = {
    "family": "alpha-rich",
    "taskRoleArn": "arn:aws:iam::123456789012:role/alpha-ecs-task-role",
    "executionRoleArn": "arn:aws:iam::123456789012:role/alpha-ecs-execution-role",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "512",
    "memory": "1024",
    "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
    "ephemeralStorage": {"sizeInGiB": 30},
    "volumes": [{"name": "scratch", "host": {}}, {"name": "static"}],
    "containerDefinitions": [
        {
            "name": "xray",
            "image": "public.ecr.aws/xray/aws-xray-daemon:3.3.10",
            "essential": False,
            "memoryReservation": 64,
            "portMappings": [{"containerPort": 2000, "protocol": "udp"}],
        },
        {
            "name": "gunicorn",
            "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ublog-backend:v1.2.2",
            "essential": True,
            "memoryReservation": 512,
            "command": ["gunicorn", "ublog.wsgi"],
            "environment": [
                {"name": "DJANGO_SETTINGS_MODULE", "value": "ublog.settings.prod"},
                {"name": "API_TOKEN", "value": "plain-text-token-9f8e"},
            ],
            "secrets": [
                {"name": "POSTGRES_PASSWORD", "valueFrom": "arn:aws:secretsmanager:eu-west-1:1:secret:dev-rds-pw-AbC"}
            ],
            "mountPoints": [{"sourceVolume": "static", "containerPath": "/app/static", "readOnly": False}],
            "dependsOn": [{"containerName": "xray", "condition": "START"}],
            "healthCheck": {"command": ["CMD-SHELL", "curl -f localhost:8000/health"], "interval": 30},
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/alpha/rich", "awslogs-region": "eu-west-1"},
            },
            "ulimits": [{"name": "nofile", "softLimit": 4096, "hardLimit": 8192}],
            "dockerLabels": {"team": "blog"},
        },
    ],
    "tags": [{"key": "env", "value": "alpha"}, {"key": "owner", "value": "blog"}],
}


def _ecs(alpha):
    return alpha.client("ecs")


def test_retag_multi_container_keeps_sidecar_and_every_other_field(alpha):
    ecs = _ecs(alpha)
    ecs.register_task_definition(**RICH)
    described = latest_definition(ecs, "alpha-rich")

    rendered = render(described, {"ublog-backend": NEW})

    for field in READ_ONLY_FIELDS:
        assert field not in rendered
    by_name = {c["name"]: c for c in rendered["containerDefinitions"]}
    assert by_name["gunicorn"]["image"] == NEW
    assert by_name["xray"] == {**described["taskDefinition"]["containerDefinitions"][0]}  # sidecar untouched
    assert rendered["tags"] == RICH["tags"]
    # every field but the one image is exactly what the live revision has
    expected = render(described, {})
    expected["containerDefinitions"][1]["image"] = NEW
    assert rendered == expected
    for key in ("taskRoleArn", "executionRoleArn", "runtimePlatform", "ephemeralStorage", "volumes", "cpu", "memory"):
        assert rendered[key] == RICH[key]
    assert by_name["gunicorn"]["environment"] == RICH["containerDefinitions"][1]["environment"]
    assert by_name["gunicorn"]["secrets"] == RICH["containerDefinitions"][1]["secrets"]

    # and ECS accepts it: the registered revision is the old one with the new image
    arn = register(ecs, rendered)
    assert arn.endswith(":2")
    again = latest_definition(ecs, "alpha-rich")
    assert again["taskDefinition"]["revision"] == 2
    assert render(again, {}) == rendered
    assert ecs.describe_task_definition(taskDefinition="alpha-rich:1")["taskDefinition"]["status"] == "ACTIVE"


def test_seeded_pre_update_family_sidecar_first(alpha):
    ecs = _ecs(alpha)
    described = latest_definition(ecs, alpha.names.family("backend_update"))
    assert image_containers(described, "ublog-backend") == ["backend_update"]
    rendered = render(described, {"ublog-backend": NEW, "ublog-frontend": "x/ublog-frontend:v9"})
    sidecar, main = rendered["containerDefinitions"]
    assert sidecar == described["taskDefinition"]["containerDefinitions"][0]
    assert main["image"] == NEW


def test_latest_definition_is_the_exact_family_never_a_prefix_sibling(alpha):
    ecs = _ecs(alpha)
    gunicorn = alpha.names.family("gunicorn")
    current = latest_definition(ecs, gunicorn)["taskDefinition"]
    sibling = render(latest_definition(ecs, gunicorn), {"ublog-backend": NEW})
    sibling["family"] = f"{gunicorn}-canary"
    register(ecs, sibling)  # newer, and its name starts with the family name

    got = latest_definition(ecs, gunicorn)
    assert got["taskDefinition"]["family"] == gunicorn
    assert got["taskDefinition"]["taskDefinitionArn"] == current["taskDefinitionArn"]
    assert got["tags"] == [{"key": "env", "value": "alpha"}]


def test_latest_active_revision_skips_a_deregistered_latest(alpha):
    ecs = _ecs(alpha)
    family = alpha.names.family("beat")
    first = latest_definition(ecs, family)["taskDefinition"]["taskDefinitionArn"]
    # a sibling with a newer revision number must not be picked by the fallback either
    sibling = render(latest_definition(ecs, family), {})
    for _ in range(3):
        register(ecs, {**sibling, "family": f"{family}-x"})
    second = register(ecs, render(latest_definition(ecs, family), {"ublog-backend": NEW}))
    ecs.deregister_task_definition(taskDefinition=second)
    got = latest_definition(ecs, family)["taskDefinition"]
    assert got["taskDefinitionArn"] == first
    assert got["status"] == "ACTIVE"


def test_missing_family_is_refused(alpha):
    with pytest.raises(RefusedError, match="alpha-nope not found"):
        latest_definition(_ecs(alpha), "alpha-nope")
    with pytest.raises(ConfigError):
        latest_definition(_ecs(alpha), "alpha-gunicorn:1")


def test_diff_shows_the_image_change_only():
    old = render(copy.deepcopy(RICH), {})
    new = render(copy.deepcopy(RICH), {"ublog-backend": NEW})
    assert diff(old, new) == [
        "~ containerDefinitions[gunicorn].image: "
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ublog-backend:v1.2.2 -> " + NEW
    ]
    assert diff(old, old) == []


SECRET_BITS = ("plain-text-token-9f8e", "rotated-token-1234", "dev-rds-pw", "other-pw", "ublog.settings.prod")


def _changed_values():
    old = render(copy.deepcopy(RICH), {})
    new = copy.deepcopy(old)
    gun = new["containerDefinitions"][1]
    gun["environment"][1]["value"] = "rotated-token-1234"
    gun["environment"].append({"name": "NEW_FLAG", "value": "ublog.settings.prod"})
    gun["secrets"][0]["valueFrom"] = "arn:aws:secretsmanager:eu-west-1:1:secret:other-pw-XyZ"
    new["containerDefinitions"].append(copy.deepcopy(RICH["containerDefinitions"][1]) | {"name": "worker"})
    return old, new


def test_diff_masks_environment_values_and_secrets():
    old, new = _changed_values()
    lines = diff(old, new)
    text = "\n".join(lines)
    for bit in SECRET_BITS:
        assert bit not in text, bit
    assert f"~ containerDefinitions[gunicorn].environment[API_TOKEN].value: {MASK} -> {MASK} (changed)" in lines
    assert any(line.startswith("+ containerDefinitions[gunicorn].environment[NEW_FLAG]") for line in lines)
    assert f"~ containerDefinitions[gunicorn].secrets[POSTGRES_PASSWORD].valueFrom: {MASK} -> {MASK} (changed)" in lines
    added = next(line for line in lines if line.startswith("+ containerDefinitions[worker]"))
    assert "DJANGO_SETTINGS_MODULE" in added and MASK in added  # names shown, values not

    shown = "\n".join(diff(old, new, show_values=True))
    for bit in SECRET_BITS:
        assert bit in shown, bit


def test_diff_masks_a_whole_replaced_environment_list():
    old = render(copy.deepcopy(RICH), {})
    new = copy.deepcopy(old)
    # duplicate names: not keyable by name, so the list is compared as a whole
    new["containerDefinitions"][1]["environment"] = [{"name": "A", "value": "plain-text-token-9f8e"}] * 2 + [
        {"name": "B", "value": "x"}
    ]
    text = "\n".join(diff(old, new))
    assert "plain-text-token-9f8e" not in text and "ublog.settings.prod" not in text
    assert "environment" in text


def test_masked_kwargs_are_never_registered(alpha):
    ecs = _ecs(alpha)
    ecs.register_task_definition(**RICH)
    full = render(latest_definition(ecs, "alpha-rich"), {"ublog-backend": NEW})
    masked = mask_values(full)
    assert "plain-text-token-9f8e" not in str(masked)
    with pytest.raises(ConfigError, match="masked values"):
        register(ecs, masked)
    assert latest_definition(ecs, "alpha-rich")["taskDefinition"]["revision"] == 1
    assert unmask(masked, full) == full
    other = copy.deepcopy(full)
    other["cpu"] = "1024"
    assert unmask(masked, other) is None
