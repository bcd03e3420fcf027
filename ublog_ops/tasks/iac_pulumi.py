"""Tasks: Pulumi — `inv pulumi.preview|up|destroy --stack base|app --env NAME` on `{org}/{project}/{env}`.

Thin: flags → config → ublog_ops.iac.pulumi.PulumiStack → summary / exit code. `preview` saves the reviewed
preview (`.iac-plans/pulumi-{stack}-{env}.json`); `up` refuses when a fresh preview differs from it.
"""

from __future__ import annotations

from invoke import Context

from ..iac.summary import PlanSummary
from ..iac.taskkit import help_for, resolve
from .base import ublog_task

_ORG = "Pulumi organization (UBLOG_PULUMI_ORG, default 'organization'); exported to the program for StackReferences"
_PREVIEW_FILE = "reviewed preview summary (default: the one pulumi.preview wrote)"


def _stack(c: Context, stack: str | None, env: str | None, org: str | None, preview_file: str | None = None):  # noqa: ANN202
    from ..iac.pulumi import PulumiStack

    cfg, env = resolve(c, env, **{"iac.pulumi_org": org})
    return PulumiStack(cfg, stack or "", env or "", preview_file=preview_file)


@ublog_task(help=help_for("stack env allow_destroy", org=_ORG))
def preview(
    c: Context, stack: str | None = None, env: str | None = None, org: str | None = None, allow_destroy: bool = False
) -> None:
    """`pulumi preview --json` (stack created if new), summary printed and added to the GitHub step summary;
    exit 3 if stateful resources would be replaced/destroyed without --allow-destroy."""
    from ..iac.summary import publish

    p = _stack(c, stack, env, org)
    p.preview(allow_destroy=allow_destroy, report=publish)
    print(f"reviewed preview saved: {p.preview_file}  (run it with `inv pulumi.up --stack {p.stack} --env {p.env}`)")


@ublog_task(help=help_for("stack env allow_destroy", org=_ORG, preview_file=_PREVIEW_FILE))
def up(
    c: Context,
    stack: str | None = None,
    env: str | None = None,
    org: str | None = None,
    preview_file: str | None = None,
    allow_destroy: bool = False,
) -> None:
    """`pulumi up` of exactly the reviewed preview: previews again and refuses (exit 3) if anything differs."""
    from ..iac.summary import publish

    p = _stack(c, stack, env, org, preview_file)
    summary = p.up(allow_destroy=allow_destroy, report=publish)
    if not summary.has_changes:
        print(f"pulumi: {p.fq} has no changes; nothing to update")


@ublog_task(help=help_for("stack env allow_destroy yes plan_only", org=_ORG))
def destroy(
    c: Context,
    stack: str | None = None,
    env: str | None = None,
    org: str | None = None,
    allow_destroy: bool = False,
    yes: bool = False,
    plan_only: bool = False,
) -> None:
    """Show the destroy preview, then `pulumi destroy` after --yes or the typed env name."""
    from ..iac.confirm import confirm_env
    from ..iac.summary import publish

    p = _stack(c, stack, env, org)

    def ask(summary: PlanSummary) -> None:
        n = summary.counts["destroy"]
        confirm_env(p.env, f"This destroys {n} resources of {p.fq}.", yes=yes)

    summary = p.destroy(allow_destroy=allow_destroy, confirm=ask, report=publish, plan_only=plan_only)
    if not summary.has_changes:
        print(f"pulumi: nothing to destroy in {p.fq}")
