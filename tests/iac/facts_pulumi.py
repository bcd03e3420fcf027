"""Run μblog's Pulumi programs offline under ``pulumi.runtime.set_mocks`` and extract contract facts from them.

:func:`run_base` / :func:`run_app` execute ``iac/pulumi/ublog_pulumi`` (the very ``main()`` the Pulumi CLI runs)
against a recording monitor: every RegisterResource request is kept with its inputs *and* its resource options as
the engine would receive them (``ignoreChanges``, ``dependencies``…), every provider function call is kept, and
the stack outputs are resolved. :func:`extract_base` / :func:`extract_app` turn those recordings into
:class:`ublog_ops.iac_contract.Fact` sets — built from what the program registered, never copied from the contract.

The pulumi runtime keeps its settings (monitor, root stack, config) in context variables; each run happens in a
copy of the caller's context with the root stack cleared, so any number of runs in one process are independent
(the parity test calls the extractors after ``test_pulumi.py`` ran).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PULUMI_DIR = REPO_ROOT / "iac" / "pulumi"
for _p in (str(REPO_ROOT), str(PULUMI_DIR)):
    if _p not in sys.path:
        sys.path.append(_p)

import pulumi  # noqa: E402
from pulumi.runtime import mocks as pmocks  # noqa: E402
from pulumi.runtime import settings as psettings  # noqa: E402
from pulumi.runtime.stack import run_pulumi_func  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

from ublog_ops.iac_contract import Fact, fact  # noqa: E402
from ublog_ops.naming import repository_name, split_image  # noqa: E402

ACCOUNT = "123456789012"
REGION = "eu-west-1"
MOCK_PASSWORD = "MOCKPASSWORD0123456789abcdefghij"
CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555"
BASE_PROJECT = "ublog-base"
APP_PROJECT = "ublog-app"


@dataclass
class Registration:
    """One resource the program registered: what the engine would have received."""

    type: str
    name: str
    inputs: dict[str, Any]
    id: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    ignore_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    custom: bool = True

    def tag(self, key: str) -> str | None:
        return (self.inputs.get("tags") or {}).get(key)


@dataclass
class Run:
    """Everything one program run registered, called and exported."""

    project: str
    stack: str
    resources: list[Registration]
    calls: list[tuple[str, dict[str, Any]]]
    outputs: dict[str, Any]
    secret_outputs: frozenset[str]

    def of(self, short_type: str) -> list[Registration]:
        """Resources whose type token ends with ``:short_type`` (e.g. ``ec2/vpc:Vpc`` or ``Vpc``)."""
        return [r for r in self.resources if r.type.endswith(f":{short_type}") or r.type.endswith(f"/{short_type}")]

    def one(self, short_type: str, name: str) -> Registration:
        found = [r for r in self.of(short_type) if r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {short_type} named {name!r}, found {len(found)}")
        return found[0]

    def by_ref(self, ref: str) -> Registration:
        """The resource whose id or ARN is ``ref`` (inputs hold resolved ids/ARNs of other resources)."""
        for r in self.resources:
            if ref in (r.id, r.state.get("arn")):
                return r
        raise LookupError(f"no registered resource has id/arn {ref!r}")


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


class RecordingMocks(pmocks.Mocks):
    """Plausible AWS answers; records every new_resource and call. Unknown provider functions fail loudly."""

    def __init__(self, stack_outputs: Mapping[str, Mapping[str, Any]] | None = None, preview: bool = False) -> None:
        self.stack_outputs = dict(stack_outputs or {})
        #: Like ``pulumi preview`` of a new stack: ids and every computed output unknown.
        self.preview = preview
        self.registrations: list[Registration] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        typ, name = args.typ, args.name
        short = typ.rsplit(":", 1)[-1]
        rid = f"{short.lower()}-{name}"
        state: dict[str, Any] = {**inputs, "arn": _arn(short.lower(), name)}
        if typ == "pulumi:pulumi:StackReference":
            ref = inputs["name"]
            if ref not in self.stack_outputs:
                raise LookupError(f"StackReference to unknown stack {ref!r} (known: {sorted(self.stack_outputs)})")
            rid, state = ref, {"name": ref, "outputs": dict(self.stack_outputs[ref]), "secretOutputNames": []}
        elif typ == "aws:ecs/taskDefinition:TaskDefinition":
            state.update(arn=_arn("ecs", f"task-definition/{inputs['family']}:1"), revision=1)
        elif typ == "aws:lb/loadBalancer:LoadBalancer":
            state.update(dnsName=f"{name}-1234567890.{REGION}.elb.amazonaws.com", zoneId="Z32O12XQLNTSW2")
        elif typ == "aws:lb/targetGroup:TargetGroup":
            state.update(arn=_arn("elasticloadbalancing", f"targetgroup/{inputs['name']}/0123456789abcdef"))
        elif typ == "aws:lb/listener:Listener":
            state.update(arn=_arn("elasticloadbalancing", f"listener/app/{name}/0123456789abcdef"))
        elif typ == "aws:rds/instance:Instance":
            state.update(address=f"{inputs['identifier']}.abcdefghijkl.{REGION}.rds.amazonaws.com", port=5432)
        elif typ == "aws:elasticache/cluster:Cluster":
            address = f"{inputs['clusterId']}.abcdef.0001.euw1.cache.amazonaws.com"
            state.update(cacheNodes=[{"id": "0001", "address": address, "port": 6379}])
        elif typ == "random:index/randomPassword:RandomPassword":
            state.update(result=MOCK_PASSWORD)
        elif typ == "aws:secretsmanager/secret:Secret":
            state.update(arn=_arn("secretsmanager", f"secret:{inputs['name']}-AbCdEf"))
        elif typ == "aws:ecs/cluster:Cluster":
            state.update(arn=_arn("ecs", f"cluster/{inputs['name']}"))
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            rid = f"sg-{name}"
        elif typ == "aws:s3/bucket:Bucket":
            rid = inputs["bucket"]
        if self.preview and typ != "pulumi:pulumi:StackReference":
            rid, state = "", dict(inputs)
        self.registrations.append(Registration(typ, name, inputs, rid, state, custom=bool(args.custom)))
        return rid, state

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict, list]:
        a = dict(args.args)
        self.calls.append((args.token, a))
        result = self._answer(args.token, a)
        if result is None:
            raise NotImplementedError(f"the Pulumi test mocks do not know the provider function {args.token}")
        return result, []

    @staticmethod
    def _answer(token: str, a: dict[str, Any]) -> dict[str, Any] | None:
        if token == "aws:index/getRegion:getRegion":
            return {"id": REGION, "name": REGION, "region": REGION, "endpoint": f"ec2.{REGION}.amazonaws.com"}
        if token == "aws:index/getPartition:getPartition":
            return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com"}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"id": ACCOUNT, "accountId": ACCOUNT, "arn": _arn("iam", "user/test"), "userId": "AIDMOCK"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{REGION}{x}" for x in "abc"]
            return {"id": REGION, "names": names, "zoneIds": [f"euw1-az{i}" for i in (1, 2, 3)]}
        if token == "aws:ecr/getRepository:getRepository":
            n = a["name"]
            return {
                "id": n,
                "name": n,
                "arn": _arn("ecr", f"repository/{n}"),
                "registryId": ACCOUNT,
                "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{n}",
            }
        if token == "aws:secretsmanager/getSecret:getSecret":
            n = a["name"]
            return {"id": n, "name": n, "arn": _arn("secretsmanager", f"secret:{n}-AbCdEf")}
        if token == "aws:route53/getZone:getZone":
            return {"id": "Z0MOCKZONE", "zoneId": "Z0MOCKZONE", "name": a["name"]}
        if token == "aws:lb/getLoadBalancer:getLoadBalancer":
            n = a["name"]
            return {"id": n, "name": n, "zoneId": "Z32O12XQLNTSW2", "dnsName": f"{n}-1.{REGION}.elb.amazonaws.com"}
        return None


class RecordingMonitor(pmocks.MockMonitor):
    """Keeps the resource options of each RegisterResource request (mocks only see type, name and inputs)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.options: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.options[(request.type, request.name)] = {
            "ignore_changes": tuple(request.ignoreChanges),
            "dependencies": tuple(request.dependencies),
        }
        return super().RegisterResource(request)


def _run_in_fresh_runtime(
    project: str, stack: str, config: Mapping[str, Any], main: Callable[[], None], mocks: RecordingMocks
) -> Run:
    psettings.ROOT.set(None)  # a root stack left by an earlier run (or another test) must not be reused
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}, secret_keys=[]
    )
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=mocks.preview, monitor=monitor)
    # set_mocks does not replace the set of pending outputs: without a fresh one (set in this context only), a run
    # would also await the tasks of an earlier failed run and raise its error.
    psettings.SETTINGS.outputs = set()
    try:
        _sync_await(run_pulumi_func(main))
    except BaseException:
        _cancel_pending_tasks()
        raise
    stack_resource = psettings.get_root_resource()
    outputs: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in stack_resource.outputs.items():
        out = pulumi.Output.from_input(value)
        outputs[key] = _sync_await(out.future()) if _sync_await(out.is_known()) else None
        if _sync_await(out.is_secret()):
            secret.add(key)
    for reg in mocks.registrations:
        opts = monitor.options.get((reg.type, reg.name), {})
        reg.ignore_changes = opts.get("ignore_changes", ())
        reg.dependencies = opts.get("dependencies", ())
    return Run(project, stack, list(mocks.registrations), list(mocks.calls), outputs, frozenset(secret))


def _cancel_pending_tasks() -> None:
    """After a failed run: cancel what it left on the event loop so nothing of it leaks into the next run."""
    loop = asyncio.get_event_loop()
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _run(project: str, stack: str, config: Mapping[str, Any], main: Callable[[], None], mocks: RecordingMocks) -> Run:
    ctx = contextvars.copy_context()
    return ctx.run(_run_in_fresh_runtime, project, stack, config, main, mocks)


def base_config(prefix: str = "ublog", **extra: Any) -> dict[str, Any]:
    return {
        "aws:region": REGION,
        f"{BASE_PROJECT}:prefix": prefix,
        f"{BASE_PROJECT}:certificateArn": CERT_ARN,
        **{f"{BASE_PROJECT}:{k}": v for k, v in extra.items()},
    }


def app_config(base_env: str = "dev", domain: str = "example.com", prefix: str = "ublog", **extra: Any) -> dict:
    return {
        "aws:region": REGION,
        f"{APP_PROJECT}:baseEnv": base_env,
        f"{APP_PROJECT}:domain": domain,
        f"{APP_PROJECT}:prefix": prefix,
        **{f"{APP_PROJECT}:{k}": v for k, v in extra.items()},
    }


def run_base(base_env: str = "dev", prefix: str = "ublog", **config: Any) -> Run:
    """Run the ``ublog-base`` program (stack ``base_env``) under mocks."""
    from ublog_pulumi.base import main

    return _run(BASE_PROJECT, base_env, base_config(prefix, **config), main, RecordingMocks())


def run_app(
    env: str = "alpha",
    base_env: str = "dev",
    domain: str = "example.com",
    prefix: str = "ublog",
    base: Run | None = None,
    expect_org: str | None = None,
    environ: Mapping[str, str] | None = None,
    **config: Any,
) -> Run:
    """Run the ``ublog-app`` program (stack ``env``) under mocks. Its StackReference is answered with the
    outputs of a real (mocked) run of the base program, so the app can only read outputs the base exports.

    ``environ`` replaces ``UBLOG_PULUMI_ORG`` for the run (None: left as the caller's environment has it);
    ``expect_org`` is the org the StackReference must name (default: what the program would pick)."""
    from ublog_pulumi.app import main
    from ublog_pulumi.settings import ORG_ENV_VAR

    base = base or run_base(base_env, prefix)
    cfg = app_config(base_env, domain, prefix, **config)
    env_org = os.environ.get(ORG_ENV_VAR) if environ is None else environ.get(ORG_ENV_VAR)
    expected_org = expect_org or env_org or config.get("org") or "organization"
    mocks = RecordingMocks({f"{expected_org}/{BASE_PROJECT}/{base_env}": base.outputs})
    with _env_var(ORG_ENV_VAR, env_org):
        return _run(APP_PROJECT, env, cfg, main, mocks)


class _env_var:
    def __init__(self, name: str, value: str | None) -> None:
        self.name, self.value, self.saved = name, value, os.environ.get(name)

    def __enter__(self) -> None:
        self._set(self.value)

    def __exit__(self, *exc: object) -> None:
        self._set(self.saved)

    def _set(self, value: str | None) -> None:
        if value is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = value


# --- fact extraction ----------------------------------------------------------------------------------------
_IGNORE_TO_FACT = {"taskDefinition": "task_definition", "desiredCount": "desired_count"}


def _containers(td: Registration) -> list[dict[str, Any]]:
    raw = td.inputs["containerDefinitions"]
    return json.loads(raw) if isinstance(raw, str) else raw


def _app_facts_of(run: Run) -> set[Fact]:
    facts: set[Fact] = set()
    for cl in run.of("Cluster"):
        if cl.type != "aws:ecs/cluster:Cluster":
            continue
        providers = [
            cp.inputs["capacityProviders"]
            for cp in run.of("ClusterCapacityProviders")
            if cp.inputs["clusterName"] == cl.inputs["name"]
        ]
        facts.add(fact("ecs_cluster", cl.inputs["name"], capacity_providers=tuple(sorted(*providers))))
    for role in run.of("iam/role:Role"):
        doc = json.loads(role.inputs["assumeRolePolicy"])
        (principal,) = {s["Principal"]["Service"] for s in doc["Statement"] if s["Action"] == "sts:AssumeRole"}
        facts.add(fact("iam_role", role.inputs["name"], assumed_by=principal))
    for rec in run.of("route53/record:Record"):
        facts.add(
            fact("route53_record", rec.inputs["name"], type=rec.inputs["type"], alias=bool(rec.inputs.get("aliases")))
        )
    for lg in run.of("cloudwatch/logGroup:LogGroup"):
        facts.add(fact("log_group", lg.inputs["name"], retention_days=lg.inputs["retentionInDays"]))
    for td in run.of("ecs/taskDefinition:TaskDefinition"):
        (c,) = _containers(td)
        repo, tag = split_image(c["image"])
        log = c["logConfiguration"]["options"]
        ports = c.get("portMappings") or []
        facts.add(
            fact(
                "task_definition",
                td.inputs["family"],
                container=c["name"],
                image_repository=repository_name(repo),
                image_tag=tag,
                command=tuple(c["command"]),
                port=ports[0]["containerPort"] if ports else 0,
                cpu=int(td.inputs["cpu"]),
                memory=int(td.inputs["memory"]),
                log_group=log["awslogs-group"],
                stream_prefix=log["awslogs-stream-prefix"],
                environment=tuple(sorted(e["name"] for e in c.get("environment") or [])),
                secrets=tuple(sorted(e["name"] for e in c.get("secrets") or [])),
            )
        )
    for tg in run.of("lb/targetGroup:TargetGroup"):
        facts.add(
            fact(
                "target_group",
                tg.inputs["name"],
                port=tg.inputs["port"],
                health_path=tg.inputs["healthCheck"]["path"],
                target_type=tg.inputs["targetType"],
            )
        )
    for rule in run.of("lb/listenerRule:ListenerRule"):
        (action,) = rule.inputs["actions"]
        conditions = rule.inputs["conditions"]
        (host,) = [v for c in conditions if "hostHeader" in c for v in c["hostHeader"]["values"]]
        paths = tuple(v for c in conditions if "pathPattern" in c for v in c["pathPattern"]["values"])
        tg = run.by_ref(action["targetGroupArn"])
        facts.add(fact("listener_rule", tg.inputs["name"], priority=rule.inputs["priority"], host=host, paths=paths))
    for svc in run.of("ecs/service:Service"):
        breaker = svc.inputs.get("deploymentCircuitBreaker") or {}
        lbs = svc.inputs.get("loadBalancers") or []
        facts.add(
            fact(
                "ecs_service",
                svc.inputs["name"],
                cluster=run.by_ref(svc.inputs["cluster"]).inputs["name"],
                family=run.by_ref(svc.inputs["taskDefinition"]).inputs["family"],
                desired_count=svc.inputs["desiredCount"],
                circuit_breaker=bool(breaker.get("enable")),
                rollback=bool(breaker.get("rollback")),
                redeploy_keeps=tuple(sorted(_IGNORE_TO_FACT.get(x, x) for x in svc.ignore_changes)),
                target_group=run.by_ref(lbs[0]["targetGroupArn"]).inputs["name"] if lbs else "",
            )
        )
    return facts


def _base_facts_of(run: Run) -> set[Fact]:
    facts: set[Fact] = set()
    for vpc in run.of("ec2/vpc:Vpc"):
        facts.add(
            fact("vpc", vpc.tag("Name"), cidr=vpc.inputs["cidrBlock"], dns_hostnames=vpc.inputs["enableDnsHostnames"])
        )
    igws = {r.id for r in run.of("ec2/internetGateway:InternetGateway")}
    public_tables = {
        r.inputs["routeTableId"]
        for r in run.of("ec2/route:Route")
        if r.inputs.get("destinationCidrBlock") == "0.0.0.0/0" and r.inputs.get("gatewayId") in igws
    }
    table_of = {a.inputs["subnetId"]: a.inputs["routeTableId"] for a in run.of("RouteTableAssociation")}
    for sn in run.of("ec2/subnet:Subnet"):
        facts.add(fact("subnet", sn.tag("Name"), public=table_of.get(sn.id) in public_tables))
    for nat in run.of("ec2/natGateway:NatGateway"):
        facts.add(fact("nat_gateway", nat.tag("Name")))
    for sg in run.of("ec2/securityGroup:SecurityGroup"):
        rules = []
        for rule in run.of("vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
            if rule.inputs["securityGroupId"] != sg.id:
                continue
            ref = rule.inputs.get("referencedSecurityGroupId")
            source = f"sg:{run.by_ref(ref).inputs['name']}" if ref else rule.inputs["cidrIpv4"]
            rules.append((rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"], source))
        facts.add(fact("security_group", sg.inputs["name"], ingress=tuple(sorted(rules))))
    for ep in run.of("ec2/vpcEndpoint:VpcEndpoint"):
        service = ep.inputs["serviceName"].split(".", 3)[3]  # com.amazonaws.<region>.<service>
        facts.add(fact("vpc_endpoint", service, type=ep.inputs["vpcEndpointType"]))
    for lb in run.of("lb/loadBalancer:LoadBalancer"):
        scheme = "internal" if lb.inputs.get("internal") else "internet-facing"
        facts.add(fact("load_balancer", lb.inputs["name"], scheme=scheme, type=lb.inputs["loadBalancerType"]))
    for ls in run.of("lb/listener:Listener"):
        (action,) = ls.inputs["defaultActions"]
        facts.add(fact("listener", ls.tag("Name"), port=ls.inputs["port"], action=action["type"]))
    for db in run.of("rds/instance:Instance"):
        facts.add(
            fact(
                "rds_instance",
                db.inputs["identifier"],
                engine=db.inputs["engine"],
                encrypted=db.inputs["storageEncrypted"],
                publicly_accessible=db.inputs["publiclyAccessible"],
            )
        )
    for sec in run.of("secretsmanager/secret:Secret"):
        facts.add(fact("secret", sec.inputs["name"]))
    for cache in run.of("elasticache/cluster:Cluster"):
        facts.add(fact("elasticache", cache.inputs["clusterId"], engine=cache.inputs["engine"]))
    blocks = run.of("s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in run.of("s3/bucket:Bucket"):
        blocked = any(b.inputs["bucket"] == bucket.id and all(b.inputs.get(f) for f in flags) for b in blocks)
        facts.add(fact("s3_bucket", bucket.inputs["bucket"], public_access_blocked=blocked))
    facts.update(fact("output", name) for name in run.outputs)
    return facts


def extract_base(base_env: str = "dev", prefix: str = "ublog") -> set[Fact]:
    """Facts of the Pulumi base stack, from the resources its program registers under mocks."""
    return _base_facts_of(run_base(base_env, prefix))


def extract_app(
    env: str = "alpha", base_env: str = "dev", domain: str = "example.com", prefix: str = "ublog"
) -> set[Fact]:
    """Facts of the Pulumi app stack, from the resources its program registers under mocks."""
    return _app_facts_of(run_app(env, base_env, domain, prefix, environ={}))
