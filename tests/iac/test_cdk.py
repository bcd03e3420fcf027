"""CDK stacks (iac/cdk): synthesized offline and checked against the contract, cfn-lint, the redeploy rule.

Each template is synthesized once per module (facts_cdk caches them); the ECS service handler that implements the
redeploy rule runs against moto's ECS; the real ``npx cdk synth`` runs when iac/cdk/node_modules is installed.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("aws_cdk", reason="needs the iac extra (pip install -e '.[iac]')")
pytestmark = pytest.mark.iac

# The name the parity test uses too, so both share one module and its template cache (one synth per stack).
from tests.iac import facts_cdk  # noqa: E402
from ublog_ops.iac_contract import (  # noqa: E402
    BACKEND_PATHS,
    BASE_OUTPUTS,
    COMMANDS,
    app_facts,
    base_facts,
    listener_priority,
)
from ublog_ops.naming import FAMILIES, SERVICES  # noqa: E402

CDK_DIR, ROOT = facts_cdk.CDK_DIR, facts_cdk.ROOT
app_template, base_template = facts_cdk.app_template, facts_cdk.base_template
extract_app, extract_base = facts_cdk.extract_app, facts_cdk.extract_base

ENV, BASE, DOMAIN, PREFIX = "alpha", "dev", "example.com", "ublog"
#: cfn-lint warnings accepted on purpose (anything else - and every error - fails the test).
ACCEPTED_WARNINGS = {
    # Availability zones are pinned in cdk.json so `cdk synth` works with no AWS access; that is the point.
    "W3010",
    # CDK adds an explicit DependsOn on the role next to the GetAtt of the Lambda's role (harmless duplicate).
    "W3005",
}
#: The redeploy variant: different task-definition content (image tag, an extra env var), nothing else.
REDEPLOY = {"image_tag": "v2.0.1", "environment": {"FEATURE_FLAGS": "new-editor"}}
#: The options variant: configured listener priority and autoscaling on.
OPTIONS = {
    "listener_priority": 700,
    "autoscaling": {"gunicorn": {"enabled": True, "min": 1, "max": 6, "cpu_target": 55}},
}


@pytest.fixture(scope="module")
def app_t() -> dict[str, Any]:
    return app_template(ENV, BASE, DOMAIN, PREFIX)


@pytest.fixture(scope="module")
def app_t2() -> dict[str, Any]:
    return app_template(ENV, BASE, DOMAIN, PREFIX, **REDEPLOY)


@pytest.fixture(scope="module")
def base_t() -> dict[str, Any]:
    return base_template(BASE, PREFIX)


def resources(t: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in t["Resources"].items() if r["Type"] == kind}


def props(t: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in resources(t, kind).values()]


def by(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def refs(value: Any) -> set[str]:
    """Logical ids referenced anywhere inside ``value`` (Ref / Fn::GetAtt)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(v[0] if isinstance(v, list) else v.split(".")[0])
            else:
                found |= refs(v)
    elif isinstance(value, list):
        for v in value:
            found |= refs(v)
    return found


# --- the contract --------------------------------------------------------------------------------------------
def test_app_facts_from_template_equal_the_contract(app_t):
    got, want = extract_app(ENV, BASE, DOMAIN, PREFIX), app_facts(ENV, BASE, DOMAIN, PREFIX)
    assert sorted(want - got) == [] and sorted(got - want) == []


def test_base_facts_from_template_equal_the_contract(base_t):
    got, want = extract_base(BASE, PREFIX), base_facts(BASE, PREFIX)
    assert sorted(want - got) == [] and sorted(got - want) == []


def test_facts_are_read_from_the_template_not_copied(app_t):
    # Break the template the way a careless edit would; the extraction must notice.
    broken = json.loads(json.dumps(app_t))
    (beat_td,) = [k for k, r in resources(app_t, "AWS::ECS::TaskDefinition").items() if "Beat" in k]
    for r in broken["Resources"].values():
        if r["Type"] == "AWS::ECS::TaskDefinition" and r["Properties"]["Family"] == "alpha-gunicorn":
            r["Properties"]["ContainerDefinitions"][0]["Image"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:v9"
        if r["Type"] == "Custom::EcsService" and r["Properties"]["ServiceName"] == "alpha-beat":
            r["Properties"]["TaskDefinition"] = {"Ref": beat_td}  # the revision ARN
    diff = facts_cdk.app_facts_from(broken) ^ app_facts(ENV, BASE, DOMAIN, PREFIX)
    assert {(f.kind, f.name) for f in diff} == {("task_definition", "alpha-gunicorn"), ("ecs_service", "alpha-beat")}


# --- base stack ----------------------------------------------------------------------------------------------
def test_base_tags_every_taggable_resource_with_env(base_t):
    tagged_types = set()
    for lid, r in base_t["Resources"].items():
        tags = r.get("Properties", {}).get("Tags")
        if tags is None:
            continue
        tagged_types.add(r["Type"])
        assert facts_cdk.tag(r["Properties"], "env") == BASE, lid
    for kind in (
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::NatGateway",
        "AWS::EC2::SecurityGroup",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::RDS::DBInstance",
        "AWS::SecretsManager::Secret",
        "AWS::ElastiCache::CacheCluster",
        "AWS::S3::Bucket",
        "AWS::SSM::Parameter",
    ):
        assert kind in tagged_types, kind
    private = [p for p in props(base_t, "AWS::EC2::Subnet") if "private" in facts_cdk.tag(p, "Name")]
    assert len(private) == 2 and {p["AvailabilityZone"] for p in private} == {"eu-west-1a", "eu-west-1b"}


def test_base_alb_redirects_http_and_serves_https_with_the_configured_certificate(base_t):
    listeners = by(props(base_t, "AWS::ElasticLoadBalancingV2::Listener"), "Port")
    redirect = listeners[80]["DefaultActions"][0]["RedirectConfig"]
    assert redirect["Protocol"] == "HTTPS" and redirect["Port"] == "443" and redirect["StatusCode"] == "HTTP_301"
    https = listeners[443]
    config = json.loads((CDK_DIR / "config" / "dev.json").read_text())
    assert https["Certificates"] == [{"CertificateArn": config["certificate_arn"]}]
    assert https["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "404"


def test_base_database_password_is_generated_and_never_output(base_t):
    (secret,) = props(base_t, "AWS::SecretsManager::Secret")
    assert secret["Name"] == "dev-rds-password" and "GenerateSecretString" in secret
    (db,) = props(base_t, "AWS::RDS::DBInstance")
    assert "resolve:secretsmanager" in json.dumps(db["MasterUserPassword"])  # a dynamic reference, no literal
    secret_ids = set(resources(base_t, "AWS::SecretsManager::Secret")) | set(
        resources(base_t, "AWS::SecretsManager::SecretTargetAttachment")
    )
    outputs = base_t["Outputs"]
    assert {facts_cdk.snake(k) for k in outputs} == set(BASE_OUTPUTS)
    for name, output in outputs.items():
        assert not refs(output["Value"]) & secret_ids, name
        assert "resolve:secretsmanager" not in json.dumps(output), name
    assert outputs["RdsPasswordSecretName"]["Value"] == "dev-rds-password"
    (bucket,) = props(base_t, "AWS::S3::Bucket")
    assert bucket["BucketName"] == "ublog-dev-assets"


def test_app_reads_exactly_what_base_writes_to_ssm(base_t, app_t):
    written = {p["Name"]: p["Type"] for p in props(base_t, "AWS::SSM::Parameter")}
    read = {p["Default"]: p["Type"] for name, p in app_t["Parameters"].items() if name != "BootstrapVersion"}
    assert read and set(read) <= set(written)
    assert all(name.startswith("/ublog/base/dev/") for name in read)
    for name, cfn_type in read.items():
        expected = "StringList" if cfn_type.startswith("AWS::SSM::Parameter::Value<List<") else "String"
        assert written[name] == expected, name
    assert read["/ublog/base/dev/private_subnet_ids"] == "AWS::SSM::Parameter::Value<List<AWS::EC2::Subnet::Id>>"


# --- app stack -----------------------------------------------------------------------------------------------
def test_app_task_definitions_carry_the_ublog_commands_and_environment(app_t):
    tds = by(props(app_t, "AWS::ECS::TaskDefinition"), "Family")
    assert set(tds) == {f"alpha-{name}" for name in FAMILIES}
    gunicorn = tds["alpha-gunicorn"]["ContainerDefinitions"][0]
    assert gunicorn["Image"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ublog-backend:latest"
    assert tuple(gunicorn["Command"]) == COMMANDS["gunicorn"]
    env = {e["Name"]: e["Value"] for e in gunicorn["Environment"]}
    assert env["POSTGRES_NAME"] == "alpha-db"
    assert env["FRONTEND_URL"] == "https://alpha.example.com"
    assert env["DJANGO_SETTINGS_MODULE"] == "backend.settings.production"
    params = app_t["Parameters"]
    assert params[env["POSTGRES_SERVICE_HOST"]["Ref"]]["Default"] == "/ublog/base/dev/rds_address"
    assert params[env["REDIS_SERVICE_HOST"]["Ref"]]["Default"] == "/ublog/base/dev/redis_host"
    (secret,) = gunicorn["Secrets"]
    join = secret["ValueFrom"]["Fn::Join"][1]
    assert params[join[0]["Ref"]]["Default"] == "/ublog/base/dev/rds_password_secret_arn" and join[1] == ":password::"
    webui = tds["alpha-web-ui"]["ContainerDefinitions"][0]
    assert webui["Image"].endswith("/ublog-frontend:latest") and webui["PortMappings"][0]["ContainerPort"] == 3000
    assert "Secrets" not in webui
    for td in tds.values():
        assert td["RequiresCompatibilities"] == ["FARGATE"] and td["NetworkMode"] == "awsvpc"
    # Replaced revisions stay registered (a service or a rollback may still use one).
    for r in resources(app_t, "AWS::ECS::TaskDefinition").values():
        assert r["UpdateReplacePolicy"] == "Retain" and r["DeletionPolicy"] == "Retain"


def test_app_roles_are_scoped(app_t):
    wildcard_ok = {
        "ecr:GetAuthorizationToken",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "elasticloadbalancing:DescribeTargetGroups",
    }
    statements = [s for p in props(app_t, "AWS::IAM::Policy") for s in p["PolicyDocument"]["Statement"]]
    assert statements
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert all(a != "*" and not a.endswith(":*") for a in actions), s
        if s["Resource"] == "*" or "*" in (s["Resource"] if isinstance(s["Resource"], list) else []):
            assert set(actions) <= wildcard_ok, s
    roles = by(props(app_t, "AWS::IAM::Role"), "RoleName")
    assert "ManagedPolicyArns" not in roles["alpha-ecs-execution-role"]


def test_app_routing_shares_the_base_listener_by_host_and_priority(app_t):
    rules = props(app_t, "AWS::ElasticLoadBalancingV2::ListenerRule")
    priorities = sorted(r["Priority"] for r in rules)
    assert priorities == [listener_priority("alpha"), listener_priority("alpha") + 1]
    assert listener_priority("alpha") != listener_priority("beta")
    params = app_t["Parameters"]
    for rule in rules:
        assert params[rule["ListenerArn"]["Ref"]]["Default"] == "/ublog/base/dev/listener_arn"
    paths = {
        tuple(c["PathPatternConfig"]["Values"]) for r in rules for c in r["Conditions"] if "PathPatternConfig" in c
    }
    assert paths == {BACKEND_PATHS, ("/*",)}
    (record,) = props(app_t, "AWS::Route53::RecordSet")
    assert record["Name"] == "alpha.example.com." and record["HostedZoneName"] == "example.com."
    assert params[record["AliasTarget"]["DNSName"]["Ref"]]["Default"] == "/ublog/base/dev/alb_dns_name"


def test_app_services_run_private_behind_their_target_groups(app_t):
    services = by(props(app_t, "Custom::EcsService"), "ServiceName")
    assert set(services) == {f"alpha-{name}" for name in SERVICES}
    assert not resources(app_t, "AWS::ECS::Service")
    params = app_t["Parameters"]
    for svc in services.values():
        net = svc["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert net["AssignPublicIp"] == "DISABLED"
        assert params[net["Subnets"]["Ref"]]["Default"] == "/ublog/base/dev/private_subnet_ids"
        assert params[net["SecurityGroups"][0]["Ref"]]["Default"] == "/ublog/base/dev/app_security_group_id"
        assert svc["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert services["alpha-web-ui"]["LoadBalancers"][0]["ContainerPort"] == 3000
    beat = services["alpha-beat"]["DeploymentConfiguration"]
    assert (beat["MinimumHealthyPercent"], beat["MaximumPercent"]) == (0, 100)  # never two schedulers at once
    web = services["alpha-gunicorn"]["DeploymentConfiguration"]
    assert (web["MinimumHealthyPercent"], web["MaximumPercent"]) == (100, 200)
    assert "LoadBalancers" not in services["alpha-beat"]
    assert not resources(app_t, "AWS::ApplicationAutoScaling::ScalableTarget")  # autoscaling is off by default


def test_app_options_priority_and_autoscaling():
    t = app_template(ENV, BASE, DOMAIN, PREFIX, **OPTIONS)
    assert sorted(r["Priority"] for r in props(t, "AWS::ElasticLoadBalancingV2::ListenerRule")) == [700, 701]
    (target,) = props(t, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["ResourceId"] == "service/alpha-cluster/alpha-gunicorn"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 6)
    (policy,) = props(t, "AWS::ApplicationAutoScaling::ScalingPolicy")
    spec = policy["TargetTrackingScalingPolicyConfiguration"]
    assert spec["TargetValue"] == 55
    assert spec["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"


# --- the rule that matters most: a redeploy never changes what is running ------------------------------------
def test_redeploy_with_new_task_definition_content_leaves_every_service_untouched(app_t, app_t2):
    tds1 = by(props(app_t, "AWS::ECS::TaskDefinition"), "Family")
    tds2 = by(props(app_t2, "AWS::ECS::TaskDefinition"), "Family")
    # The task definitions really differ (a redeploy registers new revisions) ...
    assert tds1["alpha-gunicorn"] != tds2["alpha-gunicorn"]
    assert tds2["alpha-gunicorn"]["ContainerDefinitions"][0]["Image"].endswith("/ublog-backend:v2.0.1")
    # ... but the services' properties are byte-for-byte identical, so CloudFormation has nothing to update.
    services1, services2 = resources(app_t, "Custom::EcsService"), resources(app_t2, "Custom::EcsService")
    assert services1.keys() == services2.keys() and len(services1) == len(SERVICES)
    td_ids = set(resources(app_t, "AWS::ECS::TaskDefinition"))
    for lid, svc in services1.items():
        assert svc["Properties"] == services2[lid]["Properties"], lid
        p = svc["Properties"]
        # The family string, never the revision ARN: a new revision cannot change this property.
        assert p["TaskDefinition"] == p["ServiceName"] and not refs(p) & td_ids
        # Created with 0 tasks; neither value is ever sent again (the handler test below proves the "never").
        assert p["DesiredCount"] == 0
        assert set(p["CreateOnly"]) == {"DesiredCount", "TaskDefinition"}
        # Still created after its task definition, so the family has a revision at CreateService.
        assert set(svc["DependsOn"]) & td_ids


def cfn_value(value: Any, resolved: dict[str, Any]) -> Any:
    """What CloudFormation hands a custom resource: references resolved, every scalar as a string."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return resolved[value["Ref"]]
        if set(value) == {"Fn::GetAtt"}:
            return resolved[value["Fn::GetAtt"][0]]
        return {k: cfn_value(v, resolved) for k, v in value.items()}
    if isinstance(value, list):
        return [cfn_value(v, resolved) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.fixture
def ecs(monkeypatch):
    """moto's ECS, with the VPC pieces CreateService validates (subnets, security group)."""
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        import boto3

        ec2 = boto3.client("ec2", region_name="eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        NET["subnets"] = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
            for cidr in ("10.0.1.0/24", "10.0.2.0/24")
        ]
        NET["sg"] = ec2.create_security_group(GroupName="dev-ecs-sg", Description="tasks", VpcId=vpc)["GroupId"]
        yield boto3.client("ecs", region_name="eu-west-1")


NET: dict[str, Any] = {}


def register(ecs, family: str, image: str) -> str:
    return ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        containerDefinitions=[{"name": "gunicorn", "image": image, "memoryReservation": 512}],
    )["taskDefinition"]["taskDefinitionArn"]


def service_event(t: dict[str, Any], service: str, kind: str, **extra: Any) -> dict[str, Any]:
    (lid,) = [k for k, r in resources(t, "Custom::EcsService").items() if r["Properties"]["ServiceName"] == service]
    resolved = {name: p["Default"] for name, p in t["Parameters"].items()}
    resolved.update({k: f"resolved-{k}" for k in t["Resources"]})
    resolved.update({k: "alpha-cluster" for k in resources(t, "AWS::ECS::Cluster")})
    for name, p in t["Parameters"].items():
        if p["Default"] == "/ublog/base/dev/private_subnet_ids":
            resolved[name] = NET["subnets"]
        if p["Default"] == "/ublog/base/dev/app_security_group_id":
            resolved[name] = NET["sg"]
    for k in resources(t, "AWS::ElasticLoadBalancingV2::TargetGroup"):
        resolved[k] = f"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{k}/0123456789abcdef"
    return {
        "RequestType": kind,
        "RequestId": "req-1",
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/alpha-app/guid",
        "LogicalResourceId": lid,
        "ResponseURL": "http://127.0.0.1:9/unused",
        "ResourceProperties": cfn_value(t["Resources"][lid]["Properties"], resolved),
        **extra,
    }


def record_calls(client) -> list[tuple[str, dict[str, Any]]]:
    """Observe the parameters of every API call the real boto3 client makes (nothing is replaced)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, json.loads(json.dumps(params))))

    client.meta.events.register("provide-client-params.ecs.*", keep)
    return calls


def describe(ecs, service: str) -> dict[str, Any]:
    (svc,) = ecs.describe_services(cluster="alpha-cluster", services=[service])["services"]
    return svc


def test_service_handler_never_resets_task_definition_or_count(ecs, app_t, app_t2):
    from ublog_cdk.ecs_service_handler import on_event

    ecs.create_cluster(clusterName="alpha-cluster")
    first = register(ecs, "alpha-gunicorn", "repo/ublog-backend:latest")  # what the first deploy registers

    calls = record_calls(ecs)
    create = service_event(app_t, "alpha-gunicorn", "Create")
    arn, data = on_event(create, ecs)
    svc = describe(ecs, "alpha-gunicorn")
    assert data == {"Name": "alpha-gunicorn", "Arn": arn} and svc["serviceArn"] == arn
    assert svc["desiredCount"] == 0 and svc["taskDefinition"] == first
    assert svc["loadBalancers"][0]["containerPort"] == 8000  # CloudFormation's "8000" became a number again
    (sent,) = [params for name, params in calls if name == "CreateService"]
    assert sent["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert sent["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    assert sent["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    assert (sent["taskDefinition"], sent["desiredCount"]) == ("alpha-gunicorn", 0)

    # The App Update pipeline deploys v7 and scales up; then the stack is redeployed with new content.
    pipeline = register(ecs, "alpha-gunicorn", "repo/ublog-backend:v7")
    ecs.update_service(cluster="alpha-cluster", service="alpha-gunicorn", taskDefinition=pipeline, desiredCount=3)
    register(ecs, "alpha-gunicorn", "repo/ublog-backend:v2.0.1")  # the redeploy's new revision
    calls.clear()

    update = service_event(app_t2, "alpha-gunicorn", "Update", PhysicalResourceId=arn)
    update["OldResourceProperties"] = create["ResourceProperties"]
    # Make the update do real work: a changed grace period and tag, and even a different DesiredCount.
    new = update["ResourceProperties"]
    new["HealthCheckGracePeriodSeconds"] = "120"
    new["DesiredCount"] = "5"
    new["Tags"] = [*new["Tags"], {"Key": "team", "Value": "web"}]
    assert on_event(update, ecs)[0] == arn
    svc = describe(ecs, "alpha-gunicorn")
    assert svc["taskDefinition"] == pipeline and svc["desiredCount"] == 3  # what runs is untouched
    (sent,) = [params for name, params in calls if name == "UpdateService"]
    assert sent == {"cluster": "alpha-cluster", "service": "alpha-gunicorn", "healthCheckGracePeriodSeconds": 120}
    tags = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags["team"] == "web" and tags["env"] == "alpha"

    # An update with no changed setting (a plain redeploy) makes no ECS call at all.
    calls.clear()
    same = service_event(app_t2, "alpha-gunicorn", "Update", PhysicalResourceId=arn)
    same["OldResourceProperties"] = service_event(app_t, "alpha-gunicorn", "Create")["ResourceProperties"]
    on_event(same, ecs)
    assert calls == []

    # A setting the handler cannot change in place is refused, not silently ignored.
    bad = service_event(app_t2, "alpha-gunicorn", "Update", PhysicalResourceId=arn)
    bad["OldResourceProperties"] = create["ResourceProperties"]
    bad["ResourceProperties"]["PlacementConstraints"] = [{"Type": "distinctInstance"}]
    with pytest.raises(ValueError, match="PlacementConstraints"):
        on_event(bad, ecs)

    assert on_event({**create, "RequestType": "Delete", "PhysicalResourceId": arn}, ecs, seconds_left=60) == (arn, {})
    assert describe(ecs, "alpha-gunicorn")["status"] == "INACTIVE"


def test_service_handler_adopts_an_existing_service_without_changing_it(ecs, app_t):
    from ublog_cdk.ecs_service_handler import on_event

    ecs.create_cluster(clusterName="alpha-cluster")
    running = register(ecs, "alpha-web-ui", "repo/ublog-frontend:v3")
    arn = ecs.create_service(
        cluster="alpha-cluster", serviceName="alpha-web-ui", taskDefinition=running, desiredCount=2
    )["service"]["serviceArn"]
    register(ecs, "alpha-web-ui", "repo/ublog-frontend:latest")
    assert on_event(service_event(app_t, "alpha-web-ui", "Create"), ecs)[0] == arn
    svc = describe(ecs, "alpha-web-ui")
    assert (svc["taskDefinition"], svc["desiredCount"]) == (running, 2)
    # A failed create leaves no service ARN as physical id: its Delete must be a no-op.
    assert on_event({"RequestType": "Delete", "PhysicalResourceId": "failed-req", "ResourceProperties": {}}, ecs)
    assert describe(ecs, "alpha-web-ui")["status"] == "ACTIVE"


class _Recorder(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_PUT(self) -> None:
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_service_handler_always_answers_cloudformation(ecs, app_t):
    from ublog_cdk.ecs_service_handler import handler

    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/response"
        ecs.create_cluster(clusterName="alpha-cluster")
        register(ecs, "alpha-beat", "repo/ublog-backend:latest")
        handler({**service_event(app_t, "alpha-beat", "Create"), "ResponseURL": url}, None)
        # The family has no revision in this cluster's account: CreateService fails, CloudFormation hears why.
        handler({**service_event(app_t, "alpha-default", "Create"), "ResponseURL": url}, None)
    finally:
        server.shutdown()
        server.server_close()
    ok, failed = _Recorder.bodies[-2:]
    assert ok["Status"] == "SUCCESS" and ok["PhysicalResourceId"].endswith("/alpha-cluster/alpha-beat")
    assert ok["Data"]["Name"] == "alpha-beat" and ok["RequestId"] == "req-1"
    assert failed["Status"] == "FAILED" and failed["PhysicalResourceId"] == "failed-req-1"
    assert failed["Reason"] and "Traceback" not in failed["Reason"]


def test_service_handler_is_the_inline_lambda_code(app_t):
    (fn,) = props(app_t, "AWS::Lambda::Function")
    source = (CDK_DIR / "ublog_cdk" / "ecs_service_handler.py").read_text()
    assert fn["Code"]["ZipFile"] == source and fn["Handler"] == "index.handler"
    assert fn["Runtime"].startswith("python3")
    services = props(app_t, "Custom::EcsService")
    fn_id = next(iter(resources(app_t, "AWS::Lambda::Function")))
    assert all(s["ServiceToken"] == {"Fn::GetAtt": [fn_id, "Arn"]} for s in services)


# --- cfn-lint ------------------------------------------------------------------------------------------------
def test_cfn_lint_finds_no_errors(tmp_path, base_t, app_t):
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    if not cfn_lint.exists():
        cfn_lint = Path(shutil.which("cfn-lint") or "cfn-lint")
    paths = []
    for name, t in (("dev-base", base_t), ("alpha-app", app_t)):
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(t, indent=1))
        paths.append(str(path))
    run = subprocess.run([str(cfn_lint), "--format", "json", *paths], capture_output=True, text=True, check=False)
    findings = json.loads(run.stdout or "[]")
    unexpected = [
        f"{f['Rule']['Id']} {f['Message']} ({Path(f['Filename']).name})"
        for f in findings
        if f["Rule"]["Id"] not in ACCEPTED_WARNINGS or f["Level"] == "Error"
    ]
    assert unexpected == [], run.stderr
    assert run.returncode in (0, 4, 8, 12), run.stderr  # cfn-lint exit bits: 2 = error, 4 = warning, 8 = info


# --- config and the real CLI ---------------------------------------------------------------------------------
def test_config_errors_are_one_clear_line():
    from ublog_cdk.settings import ConfigError, load_env_config, parse_env_config

    app = facts_cdk.example_config("app")
    with pytest.raises(ConfigError, match=r"unknown key.*desired_count"):
        parse_env_config("alpha", {**app, "desired_count": 2})
    with pytest.raises(ConfigError, match="account must be a 12-digit"):
        parse_env_config("alpha", {**app, "account": "12345"})
    with pytest.raises(ConfigError, match="listener_priority must be int"):
        parse_env_config("alpha", {**app, "listener_priority": True})
    with pytest.raises(ConfigError, match="only gunicorn, default can autoscale"):
        parse_env_config("alpha", {**app, "autoscaling": {"beat": {"enabled": True}}})
    with pytest.raises(ConfigError, match="certificate_arn"):
        parse_env_config("dev", {**facts_cdk.example_config("base"), "certificate_arn": ""})
    with pytest.raises(ConfigError, match=r"no config for env 'nope'.*known envs: alpha, dev"):
        load_env_config("nope")
    assert load_env_config("alpha").base_env == "dev" and load_env_config("dev").stack == "base"


def test_build_selects_by_stack_kind_and_rejects_a_wrong_one():
    from ublog_cdk import ConfigError, build

    stacks = build(stack="app")  # `cdk synth -c stack=app`: every app env, named {env}-app
    assert {name: s.stack_name for name, s in stacks.items()} == {"alpha-app": "alpha-app"}
    assert (stacks["alpha-app"].account, stacks["alpha-app"].region) == ("123456789012", "eu-west-1")

    with pytest.raises(ConfigError, match=r"env 'dev' is a base env \(config/dev.json\), but stack=app was asked for"):
        build(["dev"], stack="app")
    with pytest.raises(ConfigError, match="-c stack=everything must be base or app"):
        build(None, stack="everything")


def test_app_py_rejects_bad_context_with_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"env": "nope"}), "CDK_OUTDIR": str(tmp_path)}
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    run = subprocess.run(
        [sys.executable, "app.py"], cwd=CDK_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 2
    assert "error: no config for env 'nope'" in run.stderr and "Traceback" not in run.stderr
    assert not list(tmp_path.glob("*.template.json"))


def _without_metadata(t: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {kk: vv for kk, vv in r.items() if kk != "Metadata"}
        for k, r in t["Resources"].items()
        if r["Type"] != "AWS::CDK::Metadata"
    }


@pytest.mark.skipif(
    not (CDK_DIR / "node_modules" / ".bin" / "cdk").exists() or not shutil.which("node"),
    reason="the cdk CLI is not installed: run `npm ci` in iac/cdk (scripts/test does)",
)
def test_real_cdk_cli_synthesizes_both_stacks_like_the_tests_do(tmp_path, base_t, app_t):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    out = tmp_path / "cdk.out"
    run = subprocess.run(
        [str(CDK_DIR / "node_modules" / ".bin" / "cdk"), "synth", "--no-notices", "-q", "-o", str(out)],
        cwd=CDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    stacks = {k: v for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"}
    assert set(stacks) == {"dev-base", "alpha-app"}
    assert {v["environment"] for v in stacks.values()} == {"aws://123456789012/eu-west-1"}
    # Same templates as the in-process synth the other tests check (cdk.json's context is used by both).
    for name, t in (("dev-base", base_t), ("alpha-app", app_t)):
        cli = json.loads((out / f"{name}.template.json").read_text())
        assert _without_metadata(cli) == _without_metadata(t), name
    assert ROOT.joinpath("iac", "cdk", "cdk.json").exists()
