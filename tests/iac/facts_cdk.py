"""Facts of the CDK stacks, read from the synthesized CloudFormation templates (not copied from the contract).

``extract_app`` / ``extract_base`` synthesize ``iac/cdk`` in-process (aws-cdk-lib, offline, ~10 s the first time)
and turn the template into :class:`ublog_ops.iac_contract.Fact` sets. The parity test imports both functions.
Templates are cached per argument set, so each stack is synthesized once per test process.

CDK-only machinery is not part of the tool-neutral contract and is skipped: the Lambda that implements
``Custom::EcsService`` (construct ``ServiceManager``: function, role, log group), SSM link parameters, route
tables, routes, EIPs and other plumbing with no contract kind.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CDK_DIR = ROOT / "iac" / "cdk"
for _path in (str(ROOT), str(CDK_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
# Node 20 works for jsii but prints a large end-of-life banner on every import; keep test output readable.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from ublog_ops.iac_contract import Fact, fact  # noqa: E402
from ublog_ops.naming import split_image  # noqa: E402

MACHINERY_PREFIX = "ServiceManager"
NAME_PROPS = {
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::ECS::TaskDefinition": "Family",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "Name",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "Name",
    "AWS::EC2::SecurityGroup": "GroupName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
}


# --- synthesis ---------------------------------------------------------------------------------------------
def example_config(kind: str) -> dict[str, Any]:
    """The shipped example config of a stack kind (``dev`` for base, ``alpha`` for app) as a dict."""
    return json.loads((CDK_DIR / "config" / ("dev.json" if kind == "base" else "alpha.json")).read_text())


def synth(env: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Synthesize one stack from a config dict (same context as cdk.json) and return its template."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from ublog_cdk import add_stack, cdk_json_context
    from ublog_cdk.settings import parse_env_config

    with tempfile.TemporaryDirectory(prefix="ublog-cdk-") as outdir:  # leave no cdk.out behind
        app = cdk.App(context=cdk_json_context(), outdir=outdir)
        stack = add_stack(app, parse_env_config(env, raw))
        return Template.from_stack(stack).to_json()


@lru_cache(maxsize=8)
def _app_template(env: str, base_env: str, domain: str, prefix: str, extra: str = "") -> str:
    raw = {
        **example_config("app"),
        "base_env": base_env,
        "domain": domain,
        "prefix": prefix,
        **json.loads(extra or "{}"),
    }
    return json.dumps(synth(env, raw))


@lru_cache(maxsize=8)
def _base_template(base_env: str, prefix: str) -> str:
    return json.dumps(synth(base_env, {**example_config("base"), "prefix": prefix}))


def app_template(
    env: str = "alpha", base_env: str = "dev", domain: str = "example.com", prefix: str = "ublog", **overrides: Any
) -> dict[str, Any]:
    """The synthesized app-stack template (a fresh copy; cached per arguments)."""
    return json.loads(_app_template(env, base_env, domain, prefix, json.dumps(overrides, sort_keys=True)))


def base_template(base_env: str = "dev", prefix: str = "ublog") -> dict[str, Any]:
    return json.loads(_base_template(base_env, prefix))


# --- helpers -----------------------------------------------------------------------------------------------
def contract_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Resources minus the CDK-only machinery."""
    return {k: v for k, v in template["Resources"].items() if not k.startswith(MACHINERY_PREFIX)}


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in contract_resources(template).items() if r["Type"] == kind}


def name_of(template: dict[str, Any], value: Any) -> Any:
    """Resolve ``{"Ref": X}`` / ``{"Fn::GetAtt": [X, ...]}`` to X's name property; other values unchanged."""
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        logical = arg if fn == "Ref" else arg[0] if fn == "Fn::GetAtt" else None
        resource = template["Resources"].get(logical) if isinstance(logical, str) else None
        if resource and resource["Type"] in NAME_PROPS:
            return resource["Properties"][NAME_PROPS[resource["Type"]]]
    return value


def tag(props: dict[str, Any], key: str) -> str | None:
    tags = props.get("Tags") or []
    if isinstance(tags, dict):
        return tags.get(key)
    return next((t["Value"] for t in tags if t["Key"] == key), None)


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


# --- app stack ---------------------------------------------------------------------------------------------
def app_facts_from(t: dict[str, Any]) -> set[Fact]:
    facts: set[Fact] = set()
    for p in of_type(t, "AWS::ECS::Cluster").values():
        facts.add(fact("ecs_cluster", p["ClusterName"], capacity_providers=sorted(p.get("CapacityProviders", []))))
    for p in of_type(t, "AWS::IAM::Role").values():
        principals = [s["Principal"]["Service"] for s in p["AssumeRolePolicyDocument"]["Statement"]]
        facts.add(fact("iam_role", p["RoleName"], assumed_by=",".join(sorted(principals))))
    for p in of_type(t, "AWS::Logs::LogGroup").values():
        facts.add(fact("log_group", p["LogGroupName"], retention_days=p.get("RetentionInDays", 0)))
    for p in of_type(t, "AWS::ECS::TaskDefinition").values():
        (c,) = p["ContainerDefinitions"]
        repo, image_tag = split_image(c["Image"])
        opts = c["LogConfiguration"]["Options"]
        facts.add(
            fact(
                "task_definition",
                p["Family"],
                container=c["Name"],
                image_repository=repo.split("/", 1)[-1],
                image_tag=image_tag,
                command=c["Command"],
                port=(c.get("PortMappings") or [{"ContainerPort": 0}])[0]["ContainerPort"],
                cpu=int(p["Cpu"]),
                memory=int(p["Memory"]),
                log_group=name_of(t, opts["awslogs-group"]),
                stream_prefix=opts["awslogs-stream-prefix"],
                environment=sorted(e["Name"] for e in c.get("Environment", [])),
                secrets=sorted(s["Name"] for s in c.get("Secrets", [])),
            )
        )
    for p in of_type(t, "AWS::ElasticLoadBalancingV2::TargetGroup").values():
        facts.add(
            fact(
                "target_group",
                p["Name"],
                port=p["Port"],
                health_path=p["HealthCheckPath"],
                target_type=p["TargetType"],
            )
        )
    for p in of_type(t, "AWS::ElasticLoadBalancingV2::ListenerRule").values():
        (action,) = p["Actions"]
        cond = {c["Field"]: c for c in p["Conditions"]}
        hosts = cond["host-header"].get("HostHeaderConfig", {}).get("Values") or cond["host-header"].get("Values")
        paths = cond["path-pattern"].get("PathPatternConfig", {}).get("Values") or cond["path-pattern"].get("Values")
        (host,) = hosts
        facts.add(
            fact(
                "listener_rule",
                name_of(t, action["TargetGroupArn"]),
                priority=p["Priority"],
                host=host,
                paths=paths,
            )
        )
    for p in of_type(t, "AWS::Route53::RecordSet").values():
        facts.add(fact("route53_record", p["Name"].rstrip("."), type=p["Type"], alias=bool(p.get("AliasTarget"))))
    for kind in ("Custom::EcsService", "AWS::ECS::Service"):
        for p in of_type(t, kind).values():
            facts.add(_service_fact(t, kind, p))
    return facts


def _service_fact(t: dict[str, Any], kind: str, p: dict[str, Any]) -> Fact:
    task_def = p["TaskDefinition"]
    # A plain family string (no ":revision", no reference to the TaskDefinition resource) is what keeps a new
    # revision from changing the service's properties; anything else would change on every redeploy.
    family_only = isinstance(task_def, str) and ":" not in task_def
    family = task_def if family_only else name_of(t, task_def)
    if kind == "Custom::EcsService":
        keeps = {snake(k) for k in p.get("CreateOnly", [])}
        if not family_only:
            keeps.discard("task_definition")
    else:  # a native AWS::ECS::Service re-sends both on every update: CloudFormation has no ignore_changes
        keeps = set()
    breaker = p.get("DeploymentConfiguration", {}).get("DeploymentCircuitBreaker", {})
    lbs = p.get("LoadBalancers") or []
    return fact(
        "ecs_service",
        p["ServiceName"],
        cluster=name_of(t, p["Cluster"]),
        family=family,
        desired_count=int(p.get("DesiredCount", 1)),
        circuit_breaker=truthy(breaker.get("Enable")),
        rollback=truthy(breaker.get("Rollback")),
        redeploy_keeps=sorted(keeps),
        target_group=name_of(t, lbs[0]["TargetGroupArn"]) if lbs else "",
    )


# --- base stack --------------------------------------------------------------------------------------------
def _ingress(t: dict[str, Any], rule: dict[str, Any]) -> tuple[str, int, int, str]:
    source = rule.get("CidrIp") or f"sg:{name_of(t, rule['SourceSecurityGroupId'])}"
    return (rule["IpProtocol"], int(rule["FromPort"]), int(rule["ToPort"]), source)


def _endpoint_service(name: Any) -> str:
    if isinstance(name, dict):  # {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}
        name = "".join(part if isinstance(part, str) else "REGION" for part in name["Fn::Join"][1])
    return name.split(".", 3)[3]


def base_facts_from(t: dict[str, Any]) -> set[Fact]:
    facts: set[Fact] = set()
    for p in of_type(t, "AWS::EC2::VPC").values():
        facts.add(fact("vpc", tag(p, "Name"), cidr=p["CidrBlock"], dns_hostnames=truthy(p.get("EnableDnsHostnames"))))
    for p in of_type(t, "AWS::EC2::Subnet").values():
        facts.add(fact("subnet", tag(p, "Name"), public=truthy(p.get("MapPublicIpOnLaunch"))))
    for p in of_type(t, "AWS::EC2::NatGateway").values():
        facts.add(fact("nat_gateway", tag(p, "Name")))
    ingress: dict[str, list[tuple[str, int, int, str]]] = {}
    for lid, p in of_type(t, "AWS::EC2::SecurityGroup").items():
        ingress[lid] = [_ingress(t, r) for r in p.get("SecurityGroupIngress", [])]
    for p in of_type(t, "AWS::EC2::SecurityGroupIngress").values():
        ingress[p["GroupId"]["Fn::GetAtt"][0]].append(_ingress(t, p))
    for lid, rules in ingress.items():
        facts.add(fact("security_group", t["Resources"][lid]["Properties"]["GroupName"], ingress=sorted(rules)))
    for p in of_type(t, "AWS::EC2::VPCEndpoint").values():
        facts.add(fact("vpc_endpoint", _endpoint_service(p["ServiceName"]), type=p.get("VpcEndpointType", "Gateway")))
    base = "?"  # listeners are named after their load balancer's base env
    for p in of_type(t, "AWS::ElasticLoadBalancingV2::LoadBalancer").values():
        facts.add(fact("load_balancer", p["Name"], scheme=p["Scheme"], type=p.get("Type", "application")))
        base = p["Name"].removesuffix("-alb")
    for p in of_type(t, "AWS::ElasticLoadBalancingV2::Listener").values():
        # Listeners have no name in AWS: the contract names them {base}-{protocol}.
        facts.add(
            fact("listener", f"{base}-{p['Protocol'].lower()}", port=p["Port"], action=p["DefaultActions"][0]["Type"])
        )
    for p in of_type(t, "AWS::RDS::DBInstance").values():
        facts.add(
            fact(
                "rds_instance",
                p["DBInstanceIdentifier"],
                engine=p["Engine"],
                encrypted=truthy(p.get("StorageEncrypted")),
                publicly_accessible=truthy(p.get("PubliclyAccessible")),
            )
        )
    for p in of_type(t, "AWS::SecretsManager::Secret").values():
        facts.add(fact("secret", p["Name"]))
    for p in of_type(t, "AWS::ElastiCache::CacheCluster").values():
        facts.add(fact("elasticache", p["ClusterName"], engine=p["Engine"]))
    for p in of_type(t, "AWS::S3::Bucket").values():
        block = p.get("PublicAccessBlockConfiguration", {})
        keys = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        facts.add(fact("s3_bucket", p["BucketName"], public_access_blocked=all(truthy(block.get(k)) for k in keys)))
    for output in t.get("Outputs", {}):
        facts.add(fact("output", snake(output)))
    return facts


# --- the interface the parity test uses ----------------------------------------------------------------------
def extract_app(
    env: str = "alpha", base_env: str = "dev", domain: str = "example.com", prefix: str = "ublog"
) -> set[Fact]:
    """Facts of the CDK app stack ``{env}-app``, from its synthesized template."""
    return app_facts_from(app_template(env, base_env, domain, prefix))


def extract_base(base_env: str = "dev", prefix: str = "ublog") -> set[Fact]:
    """Facts of the CDK base stack ``{base_env}-base``, from its synthesized template."""
    return base_facts_from(base_template(base_env, prefix))


__all__ = ["app_template", "base_template", "extract_app", "extract_base"]
