"""Tasks: CDK — `inv cdk.synth|diff|deploy|destroy --stack base|app --env NAME` (stack id `{env}-{stack}`).

Thin: flags → config → ublog_ops.iac.cdk.CdkStack → summary / exit code. `diff` synthesizes the reviewed cloud
assembly (`.iac-plans/cdk-{stack}-{env}.out`); `deploy` deploys exactly that assembly.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Context

from ..iac.summary import PlanSummary
from ..iac.taskkit import help_for, resolve
from .base import ublog_task

_TEMPLATE = "diff against this local CloudFormation template instead of the deployed stack (offline review)"
_APPROVAL = "passed to cdk deploy --require-approval: never (default: the review is our diff), any-change, broadening"


def _stack(c: Context, stack: str | None, env: str | None):  # noqa: ANN202
    from ..iac.cdk import CdkStack

    cfg, env = resolve(c, env)
    return CdkStack(cfg, stack or "", env or "")


@ublog_task(help=help_for("stack env"))
def synth(c: Context, stack: str | None = None, env: str | None = None) -> None:
    """Synthesize {env}-{stack} (offline) into the plan dir and list its resources."""
    s = _stack(c, stack, env)
    template = s.synth()
    resources = s.template().get("Resources") or {}
    print(f"cdk: synthesized {s.id}: {len(resources)} resources -> {template}")


@ublog_task(help=help_for("stack env allow_destroy", template=_TEMPLATE))
def diff(
    c: Context,
    stack: str | None = None,
    env: str | None = None,
    template: str | None = None,
    allow_destroy: bool = False,
) -> None:
    """Synthesize and `cdk diff` against the deployed stack: summary printed and added to the GitHub step summary;
    exit 3 if stateful resources would be replaced/destroyed without --allow-destroy."""
    from ..iac.summary import publish

    s = _stack(c, stack, env)
    s.diff(allow_destroy=allow_destroy, template=Path(template).resolve() if template else None, report=publish)
    print(f"reviewed assembly: {s.assembly}  (deploy it with `inv cdk.deploy --stack {s.stack} --env {s.env}`)")


@ublog_task(help=help_for("stack env allow_destroy", require_approval=_APPROVAL, template=_TEMPLATE))
def deploy(
    c: Context,
    stack: str | None = None,
    env: str | None = None,
    require_approval: str = "never",
    template: str | None = None,
    allow_destroy: bool = False,
) -> None:
    """Deploy exactly the assembly reviewed with cdk.diff; refused (exit 3) if a fresh diff no longer matches."""
    from ..iac.summary import publish

    s = _stack(c, stack, env)
    summary = s.deploy(
        allow_destroy=allow_destroy,
        require_approval=require_approval,
        template=Path(template).resolve() if template else None,
        report=publish,
    )
    if not summary.has_changes:
        print(f"cdk: {s.id} has no changes; nothing deployed")


@ublog_task(help=help_for("stack env allow_destroy yes plan_only"))
def destroy(
    c: Context,
    stack: str | None = None,
    env: str | None = None,
    allow_destroy: bool = False,
    yes: bool = False,
    plan_only: bool = False,
) -> None:
    """Show what deleting {env}-{stack} destroys (retained resources are kept), then `cdk destroy` after --yes or
    the typed env name."""
    from ..iac.confirm import confirm_env
    from ..iac.summary import publish

    s = _stack(c, stack, env)

    def ask(summary: PlanSummary) -> None:
        confirm_env(s.env, f"This deletes stack {s.id} ({summary.counts['destroy']} resources destroyed).", yes=yes)

    s.destroy(allow_destroy=allow_destroy, confirm=ask, report=publish, plan_only=plan_only)
