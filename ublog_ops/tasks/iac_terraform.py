"""Tasks: Terraform — `inv tf.init|plan|apply|destroy --stack base|app --env NAME`.

Thin: flags → config → ublog_ops.iac.terraform.TfStack → summary / exit code. `plan` writes
`.iac-plans/tf-{stack}-{env}.tfplan` (+ `.json` summary; `--destroy`: `….destroy.tfplan`); `apply` applies only
a saved plan (that one, or --plan-file).
"""

from __future__ import annotations

from invoke import Context

from ..iac.summary import PlanSummary
from ..iac.taskkit import help_for, resolve
from .base import ublog_task


def _stack(c: Context, stack: str | None, env: str | None, base_env: str | None, plan_file: str | None = None):  # noqa: ANN202
    from ..iac.terraform import TfStack

    cfg, env = resolve(c, env, base_env)
    return TfStack(cfg, stack or "", env or "", plan_file=plan_file, base_env=base_env)


@ublog_task(help=help_for("stack env base_env"))
def init(c: Context, stack: str | None = None, env: str | None = None, base_env: str | None = None) -> None:
    """terraform init with the partial S3 backend config, then select (or create) the workspace ENV."""
    tf = _stack(c, stack, env, base_env)
    state = tf.init()
    print(f"terraform: {tf.workdir.name} initialised; workspace {tf.env} {state}")


@ublog_task(help=help_for("stack env base_env allow_destroy", destroy="plan the destroy of the stack instead"))
def plan(
    c: Context,
    stack: str | None = None,
    env: str | None = None,
    base_env: str | None = None,
    allow_destroy: bool = False,
    destroy: bool = False,
) -> None:
    """Plan with envs/ENV.tfvars into a saved plan file, print the summary (and to the GitHub step summary);
    exit 3 if it replaces/destroys stateful resources without --allow-destroy."""
    from ..iac.summary import publish

    tf = _stack(c, stack, env, base_env)
    if destroy:
        tf.use_destroy_plan_file()
    tf.init(create_workspace=not destroy)
    tf.plan(allow_destroy=allow_destroy, destroy=destroy, report=publish)
    how = f"inv tf.apply --stack {tf.stack} --env {tf.env}" + (f" --plan-file {tf.plan_file} --yes" if destroy else "")
    print(f"saved plan: {tf.plan_file}  (apply it with `{how}`)")


@ublog_task(
    help=help_for(
        "stack env base_env allow_destroy",
        plan_file="saved plan to apply (default: the one tf.plan wrote)",
        yes="confirm applying a destroy plan (tf.plan --destroy) without typing the env name",
    )
)
def apply(
    c: Context,
    stack: str | None = None,
    env: str | None = None,
    base_env: str | None = None,
    plan_file: str | None = None,
    allow_destroy: bool = False,
    yes: bool = False,
) -> None:
    """Apply a saved, reviewed plan — never a fresh one. The gate is checked again on the saved plan; a destroy
    plan also needs --yes or the typed env name."""
    from ..iac.confirm import confirm_env
    from ..iac.summary import publish

    tf = _stack(c, stack, env, base_env, plan_file)
    tf.init(create_workspace=False)
    summary = tf.reviewed_plan(allow_destroy=allow_destroy, report=publish)
    if summary.operation == "destroy" and summary.has_changes:
        n = summary.counts["destroy"]
        confirm_env(tf.env, f"This destroy plan destroys {n} resources of stack {tf.stack} in {tf.env}.", yes=yes)
    if tf.apply(summary) is None:
        print("terraform: the saved plan has no changes; nothing applied")


@ublog_task(help=help_for("stack env base_env allow_destroy yes"))
def destroy(
    c: Context,
    stack: str | None = None,
    env: str | None = None,
    base_env: str | None = None,
    allow_destroy: bool = False,
    yes: bool = False,
) -> None:
    """Plan the destroy of STACK in ENV, show it, then apply exactly that plan after --yes or the typed env name."""
    from ..iac.confirm import confirm_env
    from ..iac.summary import publish

    tf = _stack(c, stack, env, base_env)
    tf.init(create_workspace=False)

    def ask(summary: PlanSummary) -> None:
        n = summary.counts["destroy"]
        confirm_env(tf.env, f"This destroys {n} resources of stack {tf.stack} in env {tf.env}.", yes=yes)

    summary = tf.destroy(allow_destroy=allow_destroy, confirm=ask, report=publish)
    if not summary.has_changes:
        print(f"terraform: nothing to destroy in {tf.stack}/{tf.env}")
