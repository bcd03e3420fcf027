"""Drift check of a release plan: has live state moved since the plan was made? (``app.apply`` runs it first.)

Checked, with reads only: the account and region of the credentials; each image tag still points at the planned
digest; each family's latest ACTIVE revision is still the planned one; each service still runs the planned revision
with the planned desired count, is ACTIVE, and (unless the plan was made with ``force``) has no deployment in
progress. Then each planned definition is re-rendered from its (immutable) revision with the planned images and must
equal the plan, masked side by side — a saved plan holds no environment values or secret references, and this is
where they are restored, in place. Every drift found is named in one :class:`RefusedError` (exit 3).

Public entry point: :func:`ublog_ops.plan.check_drift` (same function).
"""

from __future__ import annotations

import shlex
import time
from typing import Any

from .aws import Aws, client_error_code
from .errors import RefusedError, UblogError
from .plan import FRESH_SECONDS, ReleasePlan, revision_of, short
from .preflight import caller_identity, deployment_in_progress, describe_image
from .taskdef import latest_definition, render, unmask


def replan_command(plan: ReleasePlan) -> str:
    """The ``inv app.plan`` command that makes this plan again from today's state."""
    words = ["inv", "app.plan", "--env", plan.env, "--tag", str(plan.inputs.get("tag"))]
    if plan.inputs.get("frontend_tag"):
        words += ["--frontend-tag", str(plan.inputs["frontend_tag"])]
    if plan.inputs.get("backend_only"):
        words.append("--backend-only")
    return shlex.join([*words, "--out", "FILE"])


def check_drift(aws: Aws, plan: ReleasePlan, *, reuse_fresh: bool = True) -> None:
    """Refuse (RefusedError, exit 3) when live state moved since ``plan`` was made; every drift is named.

    Checked: the account of the credentials; each image tag still points at the planned digest; each family's latest
    ACTIVE revision is still the planned one; each service still runs the planned revision with the planned desired
    count, is ACTIVE, and (unless the plan was made with ``force``) has no deployment in progress. Then the planned
    definitions are re-rendered from those (immutable) revisions and must equal the plan; a saved plan's masked
    values are restored from them, in place.

    A plan made by :func:`make_plan` in this process less than :data:`FRESH_SECONDS` ago was read moments ago and is
    not read again (``reuse_fresh=False`` forces the check).
    """
    if reuse_fresh and plan.made_at is not None and time.monotonic() - plan.made_at < FRESH_SECONDS:
        return
    drift: list[str] = []
    newer: list[str] = []
    moved: list[str] = []
    identity = caller_identity(aws)
    if identity["Account"] != plan.account:
        raise RefusedError(
            f"the plan is for account {plan.account}, the credentials are for {identity['Account']}",
            hint="use the credentials of the plan's account",
        )
    if aws.region and plan.region and aws.region != plan.region:
        raise RefusedError(
            f"the plan is for region {plan.region}, the session uses {aws.region}",
            hint=f"set AWS_REGION={plan.region}",
        )
    ecr = aws.client("ecr")
    for img in plan.images.values():
        try:
            digest = describe_image(ecr, img["repository"], img["tag"])["imageDigest"]
        except UblogError as exc:
            drift.append(exc.message)
            continue
        if digest != img["digest"]:
            drift.append(
                f"tag {img['tag']} of {img['repository']} now points at {digest[:19]}… (planned {img['digest'][:19]}…)"
            )

    ecs = aws.client("ecs")
    restored: dict[str, dict[str, Any]] = {}
    image_map = plan.image_map()
    for name, fam in plan.families.items():
        try:
            described = latest_definition(ecs, fam["family"])
        except UblogError as exc:
            drift.append(exc.message)
            continue
        arn = described["taskDefinition"]["taskDefinitionArn"]
        if arn != fam["current_arn"]:
            newer.append(f"{short(arn)} (planned from :{revision_of(fam['current_arn'])})")
            continue
        full = unmask(fam["rendered"], render(described, image_map))
        if full is None:
            drift.append(
                f"the planned definition of {fam['family']} is not {short(arn)} with the planned images "
                "(plan file edited, or made by another ublog-ops version)"
            )
            continue
        restored[name] = full

    arns = [s["service"] for s in plan.services.values()]
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(arns), 10):
        try:
            out = ecs.describe_services(cluster=plan.cluster, services=arns[i : i + 10])
        except Exception as exc:
            if client_error_code(exc) != "ClusterNotFoundException":
                raise
            raise RefusedError(
                f"cluster {plan.cluster} of the plan does not exist", hint="check the credentials, region and env"
            ) from None
        found.update({s["serviceName"]: s for s in out.get("services", [])})
    for svc in plan.services.values():
        live = found.get(svc["service"])
        if live is None or live.get("status") != "ACTIVE":
            drift.append(f"service {svc['service']} is {live.get('status') if live else 'MISSING'}")
            continue
        if live.get("taskDefinition") != svc["current_task_definition"]:
            moved.append(
                f"{svc['service']} runs {short(live.get('taskDefinition'))} "
                f"(planned from :{revision_of(svc['current_task_definition'])})"
            )
        if int(live.get("desiredCount", 0)) != int(svc["current_desired"]):
            drift.append(
                f"{svc['service']} desired count is {live.get('desiredCount')} (planned from {svc['current_desired']})"
            )
        busy = deployment_in_progress(live)
        if busy and not plan.inputs.get("force"):
            drift.append(f"{svc['service']} has a deployment in progress ({busy})")
    if newer:
        drift.insert(0, "newer task-definition revisions: " + ", ".join(newer))
    if moved:
        drift.append("services run other revisions: " + ", ".join(moved))
    if drift:
        hint = f"make a new plan: {replan_command(plan)}"
        if len(moved) == len(plan.services):
            hint = f"was this plan applied already? check `inv app.status --env {plan.env}`; else {hint}"
        raise RefusedError(f"live state drifted since the plan was made ({plan.created_at}): " + "; ".join(drift), hint)
    for name, full in restored.items():
        plan.families[name]["rendered"] = full
    plan.redacted = False
