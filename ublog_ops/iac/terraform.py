"""Terraform: init with the partial S3 backend config, workspace per env, saved plans, apply-only-saved-plans.

Machine-readable outputs used (documented in the README "Infrastructure" section):

- ``terraform plan -detailed-exitcode -out FILE``: exit 0 = no changes, 2 = changes, 1 = error;
- ``terraform show -json FILE``: the JSON plan representation (``format_version`` 1.x, ``resource_changes[]`` with
  ``change.actions``, ``change.replace_paths``, ``action_reason``), parsed by :func:`summarize`;
- ``terraform show -no-color FILE``: the human text kept in the summary's collapsed block.

``apply`` only ever applies a saved plan file (never ``terraform apply`` without one): the plan that was reviewed
is the plan that runs, and Terraform itself refuses it if the state moved on since ("Saved plan is stale").
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..config import Config
from ..errors import ConfigError
from .artifacts import file_sha256, read_sidecar, write_sidecar
from .runner import Result, find_binary, run
from .summary import Change, PlanSummary, Reporter, merge_changes

#: Environment for every terraform call: no prompts, no upgrade check, output meant for automation.
TF_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
#: Attributes that name the AWS resource, checked in order, for the summary's ``name`` column.
_NAME_KEYS = ("identifier", "bucket", "replication_group_id", "cluster_id", "cluster_identifier", "name", "family")


def s3_backend_config(cfg: Config, stack: str) -> dict[str, str]:
    """The partial ``backend "s3"`` settings supplied at init (the root modules only declare ``backend "s3" {}``).

    State of workspace ``{env}`` lives at ``s3://{bucket}/{stack}/{env}/{stack}.tfstate``: the key is per stack and
    ``workspace_key_prefix`` is the stack, so base and app states never share a path. Locks go to the DynamoDB
    table created by ``iac/terraform/bootstrap``."""
    names = cfg.names(cfg.base_env)
    region = cfg.get("iac.state_region") or cfg.get("aws_region") or os.environ.get("AWS_REGION")
    region = region or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigError(
            "no region for the Terraform state bucket",
            hint="set UBLOG_TF_STATE_REGION (or UBLOG_AWS_REGION/AWS_REGION)",
        )
    return {
        "bucket": cfg.get("iac.state_bucket") or names.state_bucket,
        "key": f"{stack}.tfstate",
        "region": region,
        "workspace_key_prefix": stack,
        "dynamodb_table": cfg.get("iac.lock_table") or names.deploy_lock_table,
        "encrypt": "true",
    }


class Terraform:
    """One Terraform root module (working directory). Every method runs the real ``terraform`` binary."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        binary: str | None = None,
        env: Mapping[str, str] | None = None,
        stream: bool = True,
        out: IO[str] | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.binary = binary or find_binary("terraform")
        self.env = {**TF_ENV, **(env or {})}
        self.stream = stream
        self.out = out

    def _run(self, step: str, *args: str, stream: bool | None = None, **kw: Any) -> Result:
        return run(
            [self.binary, f"-chdir={self.workdir}", *args],
            env=self.env,
            tool="terraform",
            step=step,
            stream=self.stream if stream is None else stream,
            out=self.out,
            **kw,
        )

    def init(self, backend_config: Mapping[str, str] | None = None, *, reconfigure: bool = True) -> Result:
        args = ["init", "-input=false", "-no-color"]
        if reconfigure:
            args.append("-reconfigure")
        args += [f"-backend-config={k}={v}" for k, v in (backend_config or {}).items()]
        return self._run("init", *args)

    def workspaces(self) -> list[str]:
        res = self._run("workspace list", "workspace", "list", stream=False)
        return [ln.strip(" *\t") for ln in res.stdout.splitlines() if ln.strip(" *\t")]

    def current_workspace(self) -> str:
        return self._run("workspace show", "workspace", "show", stream=False).stdout.strip()

    def select_workspace(self, name: str, *, create: bool = True) -> str:
        """Select workspace ``name``; create it when missing (if ``create``). Returns "selected" or "created"."""
        if name in self.workspaces():
            self._run("workspace select", "workspace", "select", "-no-color", name, stream=False)
            return "selected"
        if not create:
            raise ConfigError(
                f"terraform workspace {name!r} does not exist in {self.workdir.name}",
                hint="nothing to destroy there; check --env and --stack",
            )
        self._run("workspace new", "workspace", "new", "-no-color", name, stream=False)
        return "created"

    def plan(
        self,
        plan_file: Path,
        *,
        var_files: Sequence[Path] = (),
        destroy: bool = False,
        variables: Mapping[str, str] | None = None,
    ) -> bool:
        """``terraform plan -detailed-exitcode -out plan_file``; True when the plan has changes (exit 2)."""
        args = ["plan", "-input=false", "-no-color", "-detailed-exitcode", "-lock-timeout=60s", f"-out={plan_file}"]
        if destroy:
            args.append("-destroy")
        args += [f"-var-file={Path(f).resolve()}" for f in var_files]
        args += [f"-var={k}={v}" for k, v in (variables or {}).items()]
        plan_file.parent.mkdir(parents=True, exist_ok=True)
        res = self._run("plan", *args, ok_codes=(0, 2))
        return res.returncode == 2

    def show_json(self, plan_file: Path) -> dict[str, Any]:
        res = self._run("show", "show", "-json", "-no-color", str(plan_file), stream=False)
        return json.loads(res.stdout)

    def show_text(self, plan_file: Path) -> str:
        return self._run("show", "show", "-no-color", str(plan_file), stream=False).stdout

    def apply(self, plan_file: Path) -> Result:
        """Apply exactly ``plan_file`` (a saved plan: Terraform applies it without asking and refuses it if stale)."""
        return self._run("apply", "apply", "-input=false", "-no-color", "-lock-timeout=60s", str(plan_file))

    def output_json(self) -> dict[str, Any]:
        return json.loads(self._run("output", "output", "-json", stream=False).stdout or "{}")


def _action(actions: Sequence[str], importing: bool) -> str | None:
    acts = list(actions)
    if acts in (["delete", "create"], ["create", "delete"]):
        return "replace"
    if acts == ["create"]:
        return "create"
    if acts == ["update"]:
        return "update"
    if acts == ["delete"]:
        return "destroy"
    if acts == ["forget"]:
        return "forget"
    if importing and acts in (["no-op"], ["update"]):
        return "import"
    return None  # no-op, read


def _physical_name(change: Mapping[str, Any]) -> str:
    """The resource's AWS name from the plan; attributes Terraform marks sensitive are never used."""
    for side in ("before", "after"):
        values = change.get(side) or {}
        sensitive = change.get(f"{side}_sensitive")
        if sensitive is True or not isinstance(values, dict):
            continue
        for key in _NAME_KEYS:
            value = values.get(key)
            if isinstance(sensitive, dict) and sensitive.get(key):
                continue
            if isinstance(value, str) and value:
                return value
    return ""


def summarize(plan: Mapping[str, Any], *, stack: str, env: str, operation: str = "plan", text: str = "") -> PlanSummary:
    """PlanSummary from ``terraform show -json`` of a saved plan (managed resources only; data reads skipped)."""
    if "format_version" not in plan:
        raise ConfigError(
            "not a Terraform JSON plan (no format_version)", hint="pass a file from `terraform plan -out`"
        )
    changes: list[Change] = []
    for rc in plan.get("resource_changes") or []:
        if rc.get("mode", "managed") != "managed":
            continue
        change = rc.get("change") or {}
        action = _action(change.get("actions") or [], bool(change.get("importing")))
        if action is None:
            continue
        detail = ""
        if action == "replace":
            paths = [".".join(str(p) for p in path) for path in change.get("replace_paths") or []]
            reason = (rc.get("action_reason") or "").replace("_", " ")
            detail = ("forced by " + ", ".join(paths)) if paths else reason
        changes.append(
            Change(
                action=action,
                type=rc.get("type", ""),
                address=rc["address"],
                name=_physical_name(change),
                detail=detail,
            )
        )
    return PlanSummary(
        tool="terraform",
        stack=stack,
        env=env,
        operation=operation,
        changes=merge_changes(changes),
        text=text,
        source="terraform show -json",
    )


# --- the task-level operations (init / plan / apply / destroy of one stack in one env) ------------------------


class TfStack:
    """``iac/terraform/live/{stack}`` in workspace ``{env}``, with its plan artifacts under the plan dir."""

    def __init__(
        self,
        cfg: Config,
        stack: str,
        env: str,
        *,
        plan_file: str | os.PathLike[str] | None = None,
        terraform: Terraform | None = None,
        base_env: str | None = None,
    ) -> None:
        from .paths import Layout, check_env, check_stack

        self.cfg = cfg
        self.stack = check_stack(stack)
        self.env = check_env(env)
        layout = Layout.from_config(cfg)
        self.workdir = layout.existing_dir(layout.iac_dir / "terraform" / "live" / self.stack, "Terraform root module")
        self.var_file = self.workdir / "envs" / f"{self.env}.tfvars"
        self.plan_file = Path(plan_file).resolve() if plan_file else layout.artifact("tf", stack, env, ".tfplan")
        self.sidecar = self.plan_file.with_suffix(".json")
        self.tf = terraform or Terraform(self.workdir)
        self.variables = self._settings_as_variables(base_env)

    def _settings_as_variables(self, base_env: str | None) -> dict[str, str]:
        """Settings the root module declares as variables, passed with -var so they win over the tfvars: the state
        bucket/region (the app stack reads the base state with them) when configured, --base-env when given."""
        import re

        declared = set()
        for f in self.workdir.glob("*.tf"):
            declared |= set(re.findall(r'^variable\s+"([^"]+)"', f.read_text(), re.M))
        wanted = {
            "state_bucket": self.cfg.get("iac.state_bucket"),
            "state_region": self.cfg.get("iac.state_region"),
            "base_env": base_env,
        }
        return {k: str(v) for k, v in wanted.items() if v and k in declared}

    def use_destroy_plan_file(self) -> None:
        """Destroy plans get their own file (``….destroy.tfplan``): never mistaken for the stack's normal plan."""
        if not self.plan_file.name.endswith(".destroy.tfplan"):
            self.plan_file = self.plan_file.with_name(self.plan_file.name.replace(".tfplan", ".destroy.tfplan"))
        self.sidecar = self.plan_file.with_suffix(".json")

    def backend_config(self) -> dict[str, str]:
        override = self.cfg.get("iac.backend_config")
        if override:
            return {str(k): str(v).replace("{stack}", self.stack) for k, v in dict(override).items()}
        return s3_backend_config(self.cfg, self.stack)

    def init(self, *, create_workspace: bool = True) -> str:
        """init (partial backend config) + select-or-create workspace ``{env}``; returns "selected"/"created"."""
        self.tf.init(self.backend_config())
        return self.tf.select_workspace(self.env, create=create_workspace)

    def _check_var_file(self) -> None:
        if not self.var_file.is_file():
            raise ConfigError(
                f"no variables for env {self.env!r}: {self.var_file} is missing",
                hint=f"create envs/{self.env}.tfvars in {self.workdir} (copy an existing env's file)",
            )

    def plan(
        self, *, allow_destroy: bool = False, destroy: bool = False, report: Reporter | None = None
    ) -> PlanSummary:
        """Write the plan file, summarize it, run the gate. A refused plan file is deleted so it cannot be applied."""
        from .gate import check

        self._check_var_file()
        self.plan_file.unlink(missing_ok=True)
        self.tf.plan(self.plan_file, var_files=[self.var_file], destroy=destroy, variables=self.variables)
        summary = summarize(
            self.tf.show_json(self.plan_file),
            stack=self.stack,
            env=self.env,
            operation="destroy" if destroy else "plan",
            text=self.tf.show_text(self.plan_file),
        )
        try:
            check(summary, allow_destroy=allow_destroy)
        except Exception:
            self.plan_file.unlink(missing_ok=True)
            self.sidecar.unlink(missing_ok=True)
            if report:
                report(summary)
            raise
        if report:
            report(summary)
        write_sidecar(summary, self.plan_file, self.sidecar, stack=self.stack, env=self.env, destroy=destroy)
        return summary

    def reviewed_plan(self, *, allow_destroy: bool, report: Reporter | None = None) -> PlanSummary:
        """Check the saved plan belongs to this stack/env and is the file that was summarized; summarize and gate it
        again (the apply step enforces the gate itself, whoever made the plan)."""
        from ..errors import RefusedError
        from .gate import check

        if not self.plan_file.is_file():
            raise ConfigError(
                f"no saved plan at {self.plan_file}",
                hint=f"run `inv tf.plan --stack {self.stack} --env {self.env}` first and review it",
            )
        meta = (read_sidecar(self.sidecar) or {}).get("plan") or {}
        if meta:
            if (meta.get("stack"), meta.get("env")) != (self.stack, self.env):
                raise ConfigError(
                    f"{self.plan_file.name} is a plan for stack {meta.get('stack')}, env {meta.get('env')}",
                    hint=f"not for --stack {self.stack} --env {self.env}: pass the right --plan-file",
                )
            if meta.get("sha256") != file_sha256(self.plan_file):
                raise RefusedError(
                    f"{self.plan_file.name} changed after it was summarized", hint="make and review a new plan"
                )
        summary = summarize(
            self.tf.show_json(self.plan_file),
            stack=self.stack,
            env=self.env,
            operation="destroy" if meta.get("destroy") else "plan",
            text=self.tf.show_text(self.plan_file),
        )
        try:
            check(summary, allow_destroy=allow_destroy)
        finally:
            if report:
                report(summary)
        return summary

    def apply(self, summary: PlanSummary) -> Result | None:
        """Apply the reviewed plan file (None when it has no changes). The file is removed once applied."""
        if not summary.has_changes:
            self.plan_file.unlink(missing_ok=True)
            return None
        result = self.tf.apply(self.plan_file)
        self.plan_file.unlink(missing_ok=True)
        return result

    def destroy(
        self, *, allow_destroy: bool, confirm: Callable[[PlanSummary], None], report: Reporter | None = None
    ) -> PlanSummary:
        """Plan the destroy into its own plan file, summarize + gate it, ``confirm`` (raises to stop), apply it.
        An unconfirmed destroy plan is deleted: it can never be applied later by accident."""
        self.use_destroy_plan_file()
        summary = self.plan(allow_destroy=allow_destroy, destroy=True, report=report)
        try:
            if summary.has_changes:
                confirm(summary)
        except BaseException:
            self.plan_file.unlink(missing_ok=True)
            raise
        self.apply(summary)
        return summary
