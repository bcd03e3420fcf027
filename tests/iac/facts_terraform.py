"""The IaC contract facts as our Terraform defines them, read from the HCL (never copied from the contract).

``extract_base`` / ``extract_app`` load the live root (``iac/terraform/live/{base,app}``) with its
``envs/{env}.tfvars`` (arguments override tfvars like ``-var`` does), follow the ``module`` call into
``iac/terraform/modules/*`` and evaluate the resources there with :mod:`tests.iac.tf_hcl`. Cross references
(a service's target group, a rule's target group, a security group's sources) are followed to the block they
point at, so a fact says what Terraform would really create. The CDK and Pulumi helpers provide the same two
functions (tests/iac/facts_cdk.py, tests/iac/facts_pulumi.py); tests/iac/test_parity.py compares all three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.iac.tf_hcl import Encoded, HclError, Instance, Module, ModuleSource, Ref, Template, load_tfvars
from ublog_ops.iac_contract import Fact, fact
from ublog_ops.naming import repository_name, split_image

TERRAFORM = Path(__file__).resolve().parents[2] / "iac" / "terraform"


def live_root(stack: str, workspace: str, **overrides: Any) -> Module:
    """The live root module of ``stack`` in ``workspace`` (= the env), as ``plan -var-file=envs/{env}.tfvars``
    with ``overrides`` as ``-var`` flags would see it."""
    live = TERRAFORM / "live" / stack
    tfvars = live / "envs" / f"{workspace}.tfvars"
    if not tfvars.exists():
        raise HclError(f"no {tfvars.relative_to(TERRAFORM)}: every env needs its tfvars")
    values = {**load_tfvars(tfvars), **overrides}
    return Module(ModuleSource.load(live), values, workspace=workspace)


def instances(module: Module, typ: str, kind: str = "resource") -> list[Instance]:
    """Every instance of every ``kind`` block of type ``typ`` in ``module``."""
    table = module.source.resources if kind == "resource" else module.source.data
    return [inst for (t, name) in sorted(table) if t == typ for inst in module.instances(kind, t, name).values()]


def _addr(inst: Instance) -> tuple[str, str, Any]:
    return (inst.type, inst.name, inst.key)


def _name_tag(inst: Instance) -> str:
    tags = inst.get("tags", {})
    if not isinstance(tags, dict) or not isinstance(tags.get("Name"), str):
        raise HclError(f"{inst.type}.{inst.name}: no known Name tag")
    return tags["Name"]


def _one_block(inst: Instance, name: str) -> Instance:
    blocks = inst.blocks(name)
    if len(blocks) != 1:
        raise HclError(f"{inst.type}.{inst.name}: expected one {name} block, found {len(blocks)}")
    return blocks[0]


def _refers_to(inst: Instance, value: Any, target: Instance) -> bool:
    return isinstance(value, Ref) and _addr(inst.follow(value)) == _addr(target)


# --- base ------------------------------------------------------------------------------------------------
def _public_subnets(m: Module) -> set[tuple]:
    """Subnets associated with a route table that routes to an internet gateway."""
    public = set()
    for assoc in instances(m, "aws_route_table_association"):
        table = assoc.follow(assoc.get("route_table_id"))
        gateways = [route.get("gateway_id", None) for route in table.blocks("route")]
        if any(isinstance(g, Ref) and g.type == "aws_internet_gateway" for g in gateways):
            public.add(_addr(assoc.follow(assoc.get("subnet_id"))))
    return public


def _ingress(sg: Instance) -> tuple[tuple[str, int, int, str], ...]:
    rules = []
    for rule in sg.blocks("ingress"):
        proto, low, high = rule.get("protocol"), rule.get("from_port"), rule.get("to_port")
        rules += [(proto, low, high, cidr) for cidr in rule.get("cidr_blocks", [])]
        rules += [(proto, low, high, "sg:" + sg.follow(ref).get("name")) for ref in rule.get("security_groups", [])]
        if rule.get("self", False):
            rules.append((proto, low, high, "sg:" + sg.get("name")))
    return tuple(sorted(rules))


def _endpoint_service(endpoint: Instance) -> str:
    """``com.amazonaws.<region>.ecr.api`` -> ``ecr.api`` (the region is a data source)."""
    value = endpoint.get("service_name")
    if isinstance(value, Template) and isinstance(value.parts[-1], str) and isinstance(value.parts[-2], Ref):
        return value.parts[-1].lstrip(".")
    raise HclError(f"aws_vpc_endpoint.{endpoint.name}: service_name {value!r} is not com.amazonaws.<region>.<svc>")


def extract_base(base_env: str = "dev", prefix: str = "ublog") -> set[Fact]:
    """Facts of the base stack ``base_env`` as iac/terraform/live/base + modules/base define it."""
    root = live_root("base", base_env, base_env=base_env, prefix=prefix)
    m = root.child("base")
    facts: set[Fact] = set()
    for vpc in instances(m, "aws_vpc"):
        cidr, dns = vpc.get("cidr_block"), vpc.get("enable_dns_hostnames", False)
        facts.add(fact("vpc", _name_tag(vpc), cidr=cidr, dns_hostnames=dns))
    public = _public_subnets(m)
    for subnet in instances(m, "aws_subnet"):
        facts.add(fact("subnet", _name_tag(subnet), public=_addr(subnet) in public))
    for nat in instances(m, "aws_nat_gateway"):
        facts.add(fact("nat_gateway", _name_tag(nat)))
    for sg in instances(m, "aws_security_group"):
        facts.add(fact("security_group", sg.get("name"), ingress=_ingress(sg)))
    for endpoint in instances(m, "aws_vpc_endpoint"):
        facts.add(fact("vpc_endpoint", _endpoint_service(endpoint), type=endpoint.get("vpc_endpoint_type")))
    for lb in instances(m, "aws_lb"):
        scheme = "internal" if lb.get("internal", False) else "internet-facing"
        facts.add(fact("load_balancer", lb.get("name"), scheme=scheme, type=lb.get("load_balancer_type")))
    for listener in instances(m, "aws_lb_listener"):
        action = _one_block(listener, "default_action").get("type")
        facts.add(fact("listener", _name_tag(listener), port=listener.get("port"), action=action))
    for db in instances(m, "aws_db_instance"):
        facts.add(
            fact(
                "rds_instance",
                db.get("identifier"),
                engine=db.get("engine"),
                encrypted=db.get("storage_encrypted", False),
                publicly_accessible=db.get("publicly_accessible", False),
            )
        )
    for secret in instances(m, "aws_secretsmanager_secret"):
        facts.add(fact("secret", secret.get("name")))
    for redis in instances(m, "aws_elasticache_replication_group"):
        facts.add(fact("elasticache", redis.get("replication_group_id"), engine=redis.get("engine")))
    for redis in instances(m, "aws_elasticache_cluster"):
        facts.add(fact("elasticache", redis.get("cluster_id"), engine=redis.get("engine")))
    blocks = instances(m, "aws_s3_bucket_public_access_block")
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    for bucket in instances(m, "aws_s3_bucket"):
        blocked = any(_refers_to(b, b.get("bucket"), bucket) and all(b.get(f, False) for f in flags) for b in blocks)
        facts.add(fact("s3_bucket", bucket.get("bucket"), public_access_blocked=blocked))
    # What the app stack can read: the live root's outputs (terraform_remote_state sees only those).
    facts |= {fact("output", name) for name in root.source.outputs}
    return facts


# --- app -------------------------------------------------------------------------------------------------
def _assumed_by(role: Instance) -> str:
    policy = role.get("assume_role_policy")
    if not (isinstance(policy, Ref) and policy.type == "aws_iam_policy_document"):
        raise HclError(f"aws_iam_role.{role.name}: assume_role_policy is not an aws_iam_policy_document")
    doc = role.follow(policy)
    services = sorted(
        ident
        for statement in doc.blocks("statement")
        for principal in statement.blocks("principals")
        if principal.get("type") == "Service"
        for ident in principal.get("identifiers")
    )
    return ",".join(services)


def _image(container: dict, td: Instance) -> tuple[str, str]:
    """(repository name, tag) of a container image: a data.aws_ecr_repository URL + ':tag', or a literal."""
    image = container["image"]
    if isinstance(image, Template) and len(image.parts) == 2 and isinstance(image.parts[0], Ref):
        repo = td.follow(image.parts[0])
        if repo.type != "aws_ecr_repository" or not str(image.parts[1]).startswith(":"):
            raise HclError(f"{td.name}: image {image} is not <ecr repository url>:<tag>")
        return repo.get("name"), image.parts[1][1:]
    if isinstance(image, str):
        return repository_name(image), split_image(image)[1] or "latest"
    raise HclError(f"{td.name}: cannot read image {image!r}")


def _name_of(inst: Instance, value: Any, attr: str) -> str:
    return value if isinstance(value, str) else inst.follow(value).get(attr)


def _task_definition(td: Instance) -> Fact:
    encoded = td.get("container_definitions")
    if not isinstance(encoded, Encoded) or len(encoded.value) != 1:
        raise HclError(f"{td.name}: container_definitions must be jsonencode([one container])")
    container = encoded.value[0]
    repo, tag = _image(container, td)
    ports = [p["containerPort"] for p in container.get("portMappings", [])]
    options = container["logConfiguration"]["options"]
    return fact(
        "task_definition",
        td.get("family"),
        container=container["name"],
        image_repository=repo,
        image_tag=tag,
        command=tuple(container["command"]),
        port=ports[0] if ports else 0,
        cpu=int(td.get("cpu")),
        memory=int(td.get("memory")),
        log_group=_name_of(td, options["awslogs-group"], "name"),
        stream_prefix=options["awslogs-stream-prefix"],
        environment=tuple(sorted(e["name"] for e in container.get("environment", []))),
        secrets=tuple(sorted(s["name"] for s in container.get("secrets", []))),
    )


def _listener_rule(rule: Instance) -> Fact:
    forward = [a for a in rule.blocks("action") if a.get("type") == "forward"]
    if len(forward) != 1:
        raise HclError(f"aws_lb_listener_rule.{rule.name}: expected one forward action")
    target = rule.follow(forward[0].get("target_group_arn")).get("name")
    hosts: list[str] = []
    paths: list[str] = []
    for condition in rule.blocks("condition"):
        hosts += [v for h in condition.blocks("host_header") for v in h.get("values")]
        paths += [v for p in condition.blocks("path_pattern") for v in p.get("values")]
    host: Any = hosts[0] if len(hosts) == 1 else tuple(hosts)
    return fact("listener_rule", target, priority=rule.get("priority"), host=host, paths=tuple(paths))


def _service(svc: Instance) -> Fact:
    breaker = svc.blocks("deployment_circuit_breaker")
    keeps = [k for lc in svc.blocks("lifecycle") for k in lc.get("ignore_changes", [])]
    target_groups = [svc.follow(lb.get("target_group_arn")).get("name") for lb in svc.blocks("load_balancer")]
    if len(target_groups) > 1:
        raise HclError(f"aws_ecs_service {svc.key}: more than one load_balancer")
    return fact(
        "ecs_service",
        svc.get("name"),
        cluster=svc.follow(svc.get("cluster")).get("name"),
        family=svc.follow(svc.get("task_definition")).get("family"),
        desired_count=svc.get("desired_count", 1),
        circuit_breaker=bool(breaker) and breaker[0].get("enable"),
        rollback=bool(breaker) and breaker[0].get("rollback"),
        redeploy_keeps=tuple(sorted(keeps)),
        target_group=target_groups[0] if target_groups else "",
    )


def extract_app(
    env: str = "alpha", base_env: str = "dev", domain: str = "example.com", prefix: str = "ublog"
) -> set[Fact]:
    """Facts of the app stack ``env`` as iac/terraform/live/app + modules/app define it."""
    root = live_root("app", env, env=env, base_env=base_env, domain=domain, prefix=prefix)
    m = root.child("app")
    facts: set[Fact] = set()
    providers = instances(m, "aws_ecs_cluster_capacity_providers")
    for cluster in instances(m, "aws_ecs_cluster"):
        names = [
            name
            for p in providers
            if _refers_to(p, p.get("cluster_name"), cluster)
            for name in p.get("capacity_providers")
        ]
        facts.add(fact("ecs_cluster", cluster.get("name"), capacity_providers=tuple(names)))
    for role in instances(m, "aws_iam_role"):
        facts.add(fact("iam_role", role.get("name"), assumed_by=_assumed_by(role)))
    for record in instances(m, "aws_route53_record"):
        facts.add(
            fact("route53_record", record.get("name"), type=record.get("type"), alias=bool(record.blocks("alias")))
        )
    for group in instances(m, "aws_cloudwatch_log_group"):
        facts.add(fact("log_group", group.get("name"), retention_days=group.get("retention_in_days")))
    for td in instances(m, "aws_ecs_task_definition"):
        facts.add(_task_definition(td))
    for tg in instances(m, "aws_lb_target_group"):
        health = _one_block(tg, "health_check").get("path")
        facts.add(
            fact(
                "target_group",
                tg.get("name"),
                port=tg.get("port"),
                health_path=health,
                target_type=tg.get("target_type"),
            )
        )
    for rule in instances(m, "aws_lb_listener_rule"):
        facts.add(_listener_rule(rule))
    for svc in instances(m, "aws_ecs_service"):
        facts.add(_service(svc))
    return facts


__all__ = ["TERRAFORM", "extract_app", "extract_base", "instances", "live_root"]
