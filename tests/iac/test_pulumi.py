"""Pulumi (Python) base and app stacks, offline: the real programs run under ``pulumi.runtime.set_mocks``.

Resource options are not visible to ``Mocks.new_resource``; ``facts_pulumi.RecordingMonitor`` records them from
the RegisterResource requests the SDK sends to the (mock) engine, so ``ignoreChanges`` is checked exactly as the
engine would receive it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import inspect
import json
from pathlib import Path

import pytest

pytest.importorskip("pulumi")
pytest.importorskip("pulumi_aws")
pytest.importorskip("pulumi_random")

import yaml

try:  # tests/iac as a package (it has an __init__.py) or as a plain directory on sys.path
    from . import facts_pulumi as fp
except ImportError:
    import facts_pulumi as fp

from ublog_ops.iac_contract import BASE_OUTPUTS, app_facts, base_facts, listener_priority
from ublog_ops.naming import TEMPLATES

pytestmark = pytest.mark.iac

PULUMI_DIR = fp.PULUMI_DIR


@pytest.fixture(scope="module")
def base() -> fp.Run:
    return fp.run_base("dev", "ublog")


@pytest.fixture(scope="module")
def app(base: fp.Run) -> fp.Run:
    return fp.run_app("alpha", "dev", "example.com", "ublog", base=base, environ={})


# --- the contract -------------------------------------------------------------------------------------------
def test_base_facts_match_the_contract(base):
    assert fp._base_facts_of(base) == base_facts("dev", "ublog")


def test_app_facts_match_the_contract(app):
    assert fp._app_facts_of(app) == app_facts("alpha", "dev", "example.com", "ublog")


def test_extractors_are_repeatable_and_follow_their_arguments():
    # Other envs/prefix/domain: the facts move with the inputs (nothing hard-coded for dev/alpha), and repeated
    # runs in one process (as the parity test does after this module) give the same answer.
    assert fp.extract_base("stage", "acme") == base_facts("stage", "acme")
    assert fp.extract_app("beta", "stage", "example.org", "acme") == app_facts("beta", "stage", "example.org", "acme")
    assert fp.extract_app() == app_facts("alpha", "dev", "example.com", "ublog")
    assert fp.extract_base() == base_facts("dev", "ublog")


def test_shipped_stack_configs_run_and_match_the_contract():
    base_cfg = yaml.safe_load((PULUMI_DIR / "base" / "Pulumi.dev.yaml").read_text())["config"]
    app_cfg = yaml.safe_load((PULUMI_DIR / "app" / "Pulumi.alpha.yaml").read_text())["config"]
    from ublog_pulumi.app import main as app_main
    from ublog_pulumi.base import main as base_main

    base_run = fp._run(fp.BASE_PROJECT, "dev", base_cfg, base_main, fp.RecordingMocks())
    assert fp._base_facts_of(base_run) == base_facts("dev", "ublog")
    mocks = fp.RecordingMocks({"organization/ublog-base/dev": base_run.outputs})
    with fp._env_var("UBLOG_PULUMI_ORG", None):
        app_run = fp._run(fp.APP_PROJECT, "alpha", app_cfg, app_main, mocks)
    assert fp._app_facts_of(app_run) == app_facts("alpha", "dev", "example.com", "ublog")
    # Every ublog-* key in the shipped files is one the programs read (a typo would be silently ignored).
    from ublog_pulumi.settings import BaseSettings

    def camel(name: str) -> str:
        first, *rest = name.split("_")
        return first + "".join(w.capitalize() for w in rest)

    known = {
        "ublog-base": {camel(f.name) for f in dataclasses.fields(BaseSettings)},
        "ublog-app": {"env", "baseEnv", "domain", "prefix", "org", "listenerPriority", "hostedZoneId"}
        | {"autoscaling", "spotServices"},
    }
    assert "certificateArn" in known["ublog-base"] and "dbDeletionProtection" in known["ublog-base"]
    for key in [*base_cfg, *app_cfg]:
        ns, _, name = key.partition(":")
        assert ns in ("aws", *known), key
        assert ns == "aws" or name in known[ns], key


# --- the rule that matters most: a re-deploy never changes what runs -------------------------------------------
def test_services_ignore_task_definition_and_desired_count(app):
    services = app.of("ecs/service:Service")
    assert sorted(s.name for s in services) == ["alpha-beat", "alpha-default", "alpha-gunicorn", "alpha-web-ui"]
    for svc in services:
        # What the engine receives: the provider's (camelCase) input names, which are real inputs of the service.
        assert set(svc.ignore_changes) == {"taskDefinition", "desiredCount"}, svc.name
        assert set(svc.ignore_changes) <= set(svc.inputs)
        assert svc.inputs["desiredCount"] == 0
        assert svc.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        assert svc.inputs["networkConfiguration"]["assignPublicIp"] is False


def test_service_options_builder_sets_ignore_changes():
    from ublog_pulumi.app import service_options

    opts = service_options()
    assert sorted(opts.ignore_changes) == ["desiredCount", "taskDefinition"]


def test_images_start_at_latest_and_old_revisions_are_kept(app):
    for td in app.of("ecs/taskDefinition:TaskDefinition"):
        (container,) = json.loads(td.inputs["containerDefinitions"])
        assert container["image"].startswith(f"{fp.ACCOUNT}.dkr.ecr.{fp.REGION}.amazonaws.com/ublog-")
        assert container["image"].endswith(":latest")
        assert td.inputs["skipDestroy"] is True  # a replaced revision stays ACTIVE for running services/rollback
        assert td.inputs["requiresCompatibilities"] == ["FARGATE"]
        assert td.inputs["networkMode"] == "awsvpc"


def test_beat_never_runs_twice_during_a_deployment(app):
    beat = app.one("ecs/service:Service", "alpha-beat")
    assert (beat.inputs["deploymentMinimumHealthyPercent"], beat.inputs["deploymentMaximumPercent"]) == (0, 100)
    web = app.one("ecs/service:Service", "alpha-gunicorn")
    assert web.inputs["deploymentMaximumPercent"] == 200


def test_load_balanced_services_wait_for_their_listener_rule(app):
    rules = {r.name: r for r in app.of("lb/listenerRule:ListenerRule")}
    for svc_name, rule_name in (("alpha-gunicorn", "alpha-gunicorn-rule"), ("alpha-web-ui", "alpha-web-ui-rule")):
        svc = app.one("ecs/service:Service", svc_name)
        assert any(dep.endswith(f"::{rule_name}") for dep in svc.dependencies), svc.dependencies
        assert rule_name in rules


# --- base <-> app link --------------------------------------------------------------------------------------
def test_app_reads_the_base_stack_through_a_stack_reference(app, base):
    (ref,) = app.of("pulumi:StackReference")
    assert ref.inputs["name"] == "organization/ublog-base/dev"
    env = {
        e["name"]: e["value"]
        for e in json.loads(app.one("TaskDefinition", "alpha-gunicorn").inputs["containerDefinitions"])[0][
            "environment"
        ]
    }
    assert env["POSTGRES_SERVICE_HOST"] == base.outputs["rds_address"]
    assert env["REDIS_SERVICE_HOST"] == base.outputs["redis_host"]
    assert env["S3_BUCKET_NAME"] == base.outputs["assets_bucket_name"] == "ublog-dev-assets"
    assert env["POSTGRES_NAME"] == "alpha-db"
    assert env["FRONTEND_URL"] == "https://alpha.example.com"
    svc = app.one("ecs/service:Service", "alpha-default")
    assert svc.inputs["networkConfiguration"]["subnets"] == base.outputs["private_subnet_ids"]
    assert svc.inputs["networkConfiguration"]["securityGroups"] == [base.outputs["app_security_group_id"]]
    for rule in app.of("ListenerRule"):
        assert rule.inputs["listenerArn"] == base.outputs["listener_arn"]


@pytest.mark.parametrize(
    ("environ", "config", "expected"),
    [
        ({"UBLOG_PULUMI_ORG": "acme"}, {}, "acme/ublog-base/dev"),
        ({"UBLOG_PULUMI_ORG": "acme"}, {"org": "other"}, "acme/ublog-base/dev"),  # the env var wins
        ({}, {"org": "other"}, "other/ublog-base/dev"),
        ({}, {}, "organization/ublog-base/dev"),
    ],
)
def test_stack_reference_org_precedence(base, environ, config, expected):
    org = expected.split("/")[0]
    run = fp.run_app(base=base, environ=environ, expect_org=org, **config)
    (ref,) = run.of("pulumi:StackReference")
    assert ref.inputs["name"] == expected


def test_app_fails_when_the_base_lacks_an_output_it_needs(base):
    broken = dataclasses.replace(base, outputs={k: v for k, v in base.outputs.items() if k != "redis_host"})
    with pytest.raises(Exception, match="redis_host"):
        fp.run_app(base=broken, environ={})


def test_base_exports_exactly_the_contract_outputs_and_never_the_password(base):
    assert set(base.outputs) == set(BASE_OUTPUTS)
    assert fp.MOCK_PASSWORD not in json.dumps(base.outputs)
    assert base.outputs["rds_password_secret_name"] == "dev-rds-password"
    assert base.outputs["base_name"] == "dev"


# --- base details -------------------------------------------------------------------------------------------
def _taggable(type_token: str) -> bool:
    pkg, path, cls = type_token.split(":")
    module = importlib.import_module(f"pulumi_{pkg}.{path.split('/')[0]}" if path != "index" else f"pulumi_{pkg}")
    return "tags" in inspect.signature(getattr(module, cls)._internal_init).parameters


def test_every_taggable_base_resource_is_tagged_with_the_base_env(base):
    aws = [r for r in base.resources if r.type.startswith("aws:")]
    taggable = [r for r in aws if _taggable(r.type)]
    assert len(taggable) > 30
    untagged = [f"{r.type} {r.name}" for r in taggable if r.tag("env") != "dev"]
    assert untagged == []
    unnamed = [f"{r.type} {r.name}" for r in taggable if not r.tag("Name")]
    assert unnamed == []


def test_private_subnets_are_findable_by_env_tag_and_name_pattern(base):
    private = [
        s
        for s in base.of("ec2/subnet:Subnet")
        if s.tag("env") == "dev" and fnmatch.fnmatch(s.tag("Name"), TEMPLATES["private_subnet_pattern"])
    ]
    assert sorted(s.tag("Name") for s in private) == ["dev-private-1", "dev-private-2"]
    assert len({s.inputs["availabilityZone"] for s in private}) == 2
    assert {s.inputs["mapPublicIpOnLaunch"] for s in private} == {False}
    assert sorted(base.outputs["private_subnet_ids"]) == sorted(s.id for s in private)


def test_one_nat_gateway_in_a_public_subnet_routes_the_private_subnets(base):
    (nat,) = base.of("ec2/natGateway:NatGateway")
    assert base.by_ref(nat.inputs["subnetId"]).tag("Name") == "dev-public-1"
    nat_tables = {
        r.inputs["routeTableId"] for r in base.of("ec2/route:Route") if r.inputs.get("natGatewayId") == nat.id
    }
    private_ids = {s.id for s in base.of("ec2/subnet:Subnet") if "private" in s.tag("Name")}
    routed = {a.inputs["subnetId"] for a in base.of("RouteTableAssociation") if a.inputs["routeTableId"] in nat_tables}
    assert routed == private_ids


def test_load_balancer_redirects_http_and_serves_https_with_the_configured_certificate(base):
    listeners = {ls.tag("Name"): ls for ls in base.of("lb/listener:Listener")}
    (redirect,) = listeners["dev-http"].inputs["defaultActions"]
    assert redirect["redirect"] == {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}
    https = listeners["dev-https"].inputs
    assert https["protocol"] == "HTTPS" and https["certificateArn"] == fp.CERT_ARN
    assert https["defaultActions"][0]["fixedResponse"]["statusCode"] == "404"
    assert base.outputs["listener_arn"] == listeners["dev-https"].state["arn"]


def _secret(wrapped: object) -> object:
    """The value of a secret-marked input as the engine receives it; fails if it is not marked secret."""
    from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

    assert isinstance(wrapped, dict) and wrapped.get(_special_sig_key) == _special_secret_sig, wrapped
    return wrapped["value"]


def test_rds_password_is_generated_into_secrets_manager(base):
    (pw,) = base.of("index/randomPassword:RandomPassword")
    assert pw.inputs["length"] >= 32
    db = base.one("rds/instance:Instance", "dev-rds")
    # The generated value (not a literal in the program), and it reaches the engine marked secret.
    assert _secret(db.inputs["password"]) == fp.MOCK_PASSWORD
    assert db.inputs["dbSubnetGroupName"] == "dev-rds-subnets"
    (version,) = base.of("secretsmanager/secretVersion:SecretVersion")
    secret = base.one("secretsmanager/secret:Secret", "dev-rds-password")
    assert version.inputs["secretId"] == secret.id
    value = json.loads(_secret(version.inputs["secretString"]))
    assert value["password"] == fp.MOCK_PASSWORD
    assert value["host"] == base.outputs["rds_address"]


def test_base_requires_a_certificate_arn():
    from ublog_pulumi.base import main

    cfg = {k: v for k, v in fp.base_config().items() if not k.endswith(":certificateArn")}
    with pytest.raises(Exception, match="certificateArn"):
        fp._run(fp.BASE_PROJECT, "dev", cfg, main, fp.RecordingMocks())


# --- app details --------------------------------------------------------------------------------------------
def _statements(run: fp.Run) -> list[dict]:
    return [s for p in run.of("iam/rolePolicy:RolePolicy") for s in json.loads(p.inputs["policy"])["Statement"]]


def test_iam_is_scoped(app):
    statements = _statements(app)
    assert statements
    for st in statements:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert all(a != "*" and not a.endswith(":*") for a in actions), st
        if st["Resource"] == "*":
            assert actions == ["ecr:GetAuthorizationToken"], st  # the one action without resource-level permissions
    (secret_read,) = [s for s in statements if s["Action"] == "secretsmanager:GetSecretValue"]
    assert secret_read["Resource"].startswith(
        f"arn:aws:secretsmanager:{fp.REGION}:{fp.ACCOUNT}:secret:dev-rds-password"
    )


def test_secrets_come_from_the_rds_secret_password_key(app):
    for td in app.of("ecs/taskDefinition:TaskDefinition"):
        (c,) = json.loads(td.inputs["containerDefinitions"])
        if c["image"].rsplit("/", 1)[1].startswith("ublog-backend"):
            (secret,) = c["secrets"]
            assert secret["name"] == "POSTGRES_PASSWORD"
            assert secret["valueFrom"].endswith(":password::")
            assert ":secret:dev-rds-password" in secret["valueFrom"]
        else:
            assert c["secrets"] == []


def test_route53_alias_points_at_the_base_load_balancer(app, base):
    (rec,) = app.of("route53/record:Record")
    (alias,) = rec.inputs["aliases"]
    assert alias["name"] == base.outputs["alb_dns_name"]
    assert alias["evaluateTargetHealth"] is True
    assert rec.inputs["zoneId"] == "Z0MOCKZONE"
    assert ("aws:route53/getZone:getZone", {"name": "example.com", "privateZone": False}) in app.calls


def test_hosted_zone_id_config_skips_the_lookup(base):
    run = fp.run_app(base=base, environ={}, hostedZoneId="Z123")
    (rec,) = run.of("route53/record:Record")
    assert rec.inputs["zoneId"] == "Z123"
    assert not [c for c in run.calls if c[0] == "aws:route53/getZone:getZone"]


def test_listener_priorities_are_derived_per_env_and_configurable(base, app):
    def priorities(run: fp.Run) -> dict[str, int]:
        return {r.name: r.inputs["priority"] for r in run.of("lb/listenerRule:ListenerRule")}

    alpha = priorities(app)
    assert alpha == {
        "alpha-gunicorn-rule": listener_priority("alpha"),
        "alpha-web-ui-rule": listener_priority("alpha") + 1,
    }
    beta = priorities(fp.run_app("beta", base=base, environ={}))
    assert not set(alpha.values()) & set(beta.values())  # two app envs fit on one base listener
    pinned = priorities(fp.run_app(base=base, environ={}, listenerPriority=100))
    assert pinned == {"alpha-gunicorn-rule": 100, "alpha-web-ui-rule": 101}


def test_autoscaling_is_off_by_default_and_cpu_based_when_on(app, base):
    assert app.of("appautoscaling/target:Target") == []
    run = fp.run_app(base=base, environ={}, autoscaling={"gunicorn": {"min": 1, "max": 5, "cpu": 55}})
    (target,) = run.of("appautoscaling/target:Target")
    assert target.inputs["resourceId"] == "service/alpha-cluster/alpha-gunicorn"
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (1, 5)
    (policy,) = run.of("appautoscaling/policy:Policy")
    spec = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert spec["predefinedMetricSpecification"]["predefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    assert spec["targetValue"] == 55


def test_autoscaling_rejects_services_it_cannot_scale(base):
    with pytest.raises(ValueError, match="autoscaling only for gunicorn, default"):
        fp.run_app(base=base, environ={}, autoscaling={"beat": {"max": 2}})
    with pytest.raises(ValueError, match="must be a map with keys cpu, max, min"):
        fp.run_app(base=base, environ={}, autoscaling={"gunicorn": {"maximum": 2}})


def test_spot_services_use_fargate_spot(base):
    run = fp.run_app(base=base, environ={}, spotServices=["default"])
    strategies = {s.name: s.inputs["capacityProviderStrategies"][0]["capacityProvider"] for s in run.of("Service")}
    assert strategies == {
        "alpha-gunicorn": "FARGATE",
        "alpha-default": "FARGATE_SPOT",
        "alpha-beat": "FARGATE",
        "alpha-web-ui": "FARGATE",
    }


def test_programs_survive_a_preview_with_unknown_outputs(base):
    # `pulumi preview` of new stacks: no ids, no computed outputs (ARNs, addresses, cache nodes) yet.
    from ublog_pulumi.app import main as app_main
    from ublog_pulumi.base import main as base_main

    base_preview = fp._run(fp.BASE_PROJECT, "dev", fp.base_config(), base_main, fp.RecordingMocks(preview=True))
    assert len(base_preview.resources) == len(base.resources)
    assert base_preview.outputs["base_name"] == "dev"
    assert base_preview.outputs["redis_host"] is None  # unknown, not a crash in the apply
    mocks = fp.RecordingMocks({"organization/ublog-base/dev": base.outputs}, preview=True)
    with fp._env_var("UBLOG_PULUMI_ORG", None):
        app_preview = fp._run(fp.APP_PROJECT, "alpha", fp.app_config(), app_main, mocks)
    assert len(app_preview.of("ecs/service:Service")) == 4


# --- the projects as the Pulumi CLI sees them ---------------------------------------------------------------
@pytest.mark.parametrize(("project", "name", "stack"), [("base", "ublog-base", "dev"), ("app", "ublog-app", "alpha")])
def test_pulumi_projects(project, name, stack):
    d = PULUMI_DIR / project
    spec = yaml.safe_load((d / "Pulumi.yaml").read_text())
    assert spec["name"] == name
    assert spec["runtime"]["name"] == "python"
    venv = (d / spec["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (fp.REPO_ROOT / ".venv").resolve()
    assert (d / "__main__.py").is_file()
    assert (d / f"Pulumi.{stack}.yaml").is_file()


def test_entry_points_find_the_contract_without_an_install(tmp_path):
    # The Pulumi CLI runs __main__.py from the project dir. Even with ublog-ops not installed (-S: no .pth files,
    # so no editable install; only the third-party site-packages), the program must find ublog_pulumi and
    # ublog_ops itself. main() is stripped: running it needs an engine.
    import site
    import subprocess
    import sys

    for project in ("base", "app"):
        main_py = PULUMI_DIR / project / "__main__.py"
        script = (
            f"import sys; sys.path.extend({site.getsitepackages()!r})\n"
            "import importlib.util\n"
            "assert importlib.util.find_spec('ublog_ops') is None, 'ublog_ops importable before __main__'\n"
            f"main_py = {str(main_py)!r}\n"
            "src = open(main_py).read().replace('main()\\n', '')\n"
            "exec(compile(src, main_py, 'exec'), {'__file__': main_py, '__name__': 'probe'})\n"
            "import ublog_ops.iac_contract\n"
            "print(ublog_ops.iac_contract.__file__)\n"
        )
        out = subprocess.run(
            [sys.executable, "-S", "-c", script], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr + out.stdout
        assert Path(out.stdout.strip()).resolve() == (fp.REPO_ROOT / "ublog_ops" / "iac_contract.py").resolve()
