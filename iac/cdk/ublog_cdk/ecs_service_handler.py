"""Lambda behind ``Custom::EcsService``: an ECS service whose task definition and desired count are create-only.

CloudFormation has no ``ignore_changes``: a native ``AWS::ECS::Service`` sends its template's TaskDefinition and
DesiredCount on every update, so a redeploy would roll back what the App Update pipeline deployed and reset the
task count. This handler creates the service with them, and on Update sends only the settings that changed
(network, load balancers, deployment configuration, ...) and never the keys listed in ``CreateOnly``.
Properties use AWS::ECS::Service names (PascalCase); CloudFormation passes scalars as strings, so numbers and
booleans are converted back. Runs inline (ZipFile) on python3.12: keep it standard-library + boto3 only.
"""

import json
import urllib.request

import boto3
from botocore.exceptions import WaiterError

DEFAULT_CREATE_ONLY = ("DesiredCount", "TaskDefinition")
UPDATABLE = {
    "CapacityProviderStrategy": "capacityProviderStrategy",
    "DeploymentConfiguration": "deploymentConfiguration",
    "EnableExecuteCommand": "enableExecuteCommand",
    "HealthCheckGracePeriodSeconds": "healthCheckGracePeriodSeconds",
    "LoadBalancers": "loadBalancers",
    "NetworkConfiguration": "networkConfiguration",
    "PlatformVersion": "platformVersion",
    "PropagateTags": "propagateTags",
}
IGNORED = ("ServiceToken", "CreateOnly", "Tags", "ServiceTimeout")
REPLACING = ("Cluster", "ServiceName")
INTS = {"base", "weight", "containerPort", "maximumPercent", "minimumHealthyPercent", "healthCheckGracePeriodSeconds"}
BOOLS = {"enable", "rollback", "enableExecuteCommand"}


def api(value, key=""):
    """PascalCase CloudFormation shape -> ECS API shape, with CloudFormation's strings turned back into types."""
    if isinstance(value, dict):
        return {k[0].lower() + k[1:]: api(v, k[0].lower() + k[1:]) for k, v in value.items()}
    if isinstance(value, list):
        return [api(v, key) for v in value]
    if key in INTS:
        return int(value)
    if key in BOOLS:
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return value


def tags(props):
    return [{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])]


def create(ecs, props):
    cluster, name = props["Cluster"], props["ServiceName"]
    found = ecs.describe_services(cluster=cluster, services=[name])["services"]
    live = [s for s in found if s["status"] != "INACTIVE"]
    if live:  # adopt, never touch: a service that exists already runs something we must not change
        return live[0]["serviceArn"]
    args = {UPDATABLE[k]: api(v, UPDATABLE[k]) for k, v in props.items() if k in UPDATABLE}
    args.update(cluster=cluster, serviceName=name, taskDefinition=props["TaskDefinition"])
    args.update(desiredCount=int(props.get("DesiredCount", 0)), schedulingStrategy="REPLICA")
    if props.get("Tags"):
        args["tags"] = tags(props)
    return ecs.create_service(**args)["service"]["serviceArn"]


def update(ecs, arn, props, old):
    if any(props.get(k) != old.get(k) for k in REPLACING):
        return create(ecs, props)  # a new physical id: CloudFormation then deletes the old service
    keep = set(props.get("CreateOnly", DEFAULT_CREATE_ONLY))
    changed = {k for k in set(props) | set(old) if props.get(k) != old.get(k)} - keep - set(IGNORED)
    unknown = changed - set(UPDATABLE)
    if unknown:
        raise ValueError("cannot update " + ", ".join(sorted(unknown)) + " in place: rename the service to replace it")
    args = {UPDATABLE[k]: api(props[k], UPDATABLE[k]) for k in changed if k in props}
    if args:
        if "capacityProviderStrategy" in args:
            args["forceNewDeployment"] = True  # same task definition, same count: only the placement changes
        ecs.update_service(cluster=props["Cluster"], service=props["ServiceName"], **args)
    new_tags, old_tags = tags(props), tags(old)
    if new_tags != old_tags:
        gone = {t["key"] for t in old_tags} - {t["key"] for t in new_tags}
        if gone:
            ecs.untag_resource(resourceArn=arn, tagKeys=sorted(gone))
        if new_tags:
            ecs.tag_resource(resourceArn=arn, tags=new_tags)
    return arn


def delete(ecs, arn, seconds_left):
    if not arn.startswith("arn:aws") or ":service/" not in arn:
        return arn  # the create failed: nothing to delete
    cluster = arn.split(":service/", 1)[1].split("/")[0]
    found = ecs.describe_services(cluster=cluster, services=[arn])["services"]
    if not found or found[0]["status"] == "INACTIVE":
        return arn
    ecs.update_service(cluster=cluster, service=arn, desiredCount=0)
    ecs.delete_service(cluster=cluster, service=arn, force=True)
    attempts = max(1, int(seconds_left - 30) // 15)
    try:
        ecs.get_waiter("services_inactive").wait(
            cluster=cluster, services=[arn], WaiterConfig={"Delay": 15, "MaxAttempts": attempts}
        )
    except WaiterError as exc:  # the waiter calls a service that is already gone (MISSING) a failure
        if "MISSING" not in json.dumps((exc.last_response or {}).get("failures", [])):
            raise
    return arn


def on_event(event, ecs, seconds_left=600):
    """Apply one CloudFormation request; return (physical resource id, attributes)."""
    kind, props = event["RequestType"], event["ResourceProperties"]
    arn = event.get("PhysicalResourceId", "")
    if kind == "Create":
        arn = create(ecs, props)
    elif kind == "Update":
        arn = update(ecs, arn, props, event.get("OldResourceProperties", {}))
    else:
        return delete(ecs, arn, seconds_left), {}
    return arn, {"Name": props["ServiceName"], "Arn": arn}


def respond(event, status, physical_id, data, reason=""):
    body = {
        "Status": status,
        "Reason": reason[:3000] or "see the function's CloudWatch log",
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    raw = json.dumps(body).encode()
    req = urllib.request.Request(event["ResponseURL"], data=raw, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def handler(event, context):
    fallback = event.get("PhysicalResourceId") or "failed-" + event["RequestId"]
    try:
        seconds = context.get_remaining_time_in_millis() / 1000 if context else 600
        physical_id, data = on_event(event, boto3.client("ecs"), seconds)
        respond(event, "SUCCESS", physical_id, data)
    except Exception as exc:  # noqa: BLE001 - CloudFormation must always get an answer
        print(f"{event['RequestType']} {event['LogicalResourceId']} failed: {exc!r}")
        respond(event, "FAILED", fallback, {}, f"{type(exc).__name__}: {exc}")
