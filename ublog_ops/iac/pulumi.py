"""Pulumi: preview / up / destroy of ``{org}/{project}/{env}`` for the base (``ublog-base``) and app
(``ublog-app``) projects in ``iac/pulumi/{stack}``.

Machine-readable output used: ``pulumi preview --json`` (and ``pulumi destroy --preview-only --json``), which
prints one JSON document, the CLI's "preview digest": ``steps[]`` (``op``, ``urn``, ``oldState``, ``newState``,
``diffReasons``, ``replaceReasons``, ``detailedDiff``), ``diagnostics[]``, ``changeSummary`` and ``duration``
(Pulumi's ``PreviewDigest`` type, documented with ``--json`` in the CLI reference of ``pulumi preview``).

Reviewed-preview rule (the Pulumi counterpart of applying only a saved Terraform plan): ``preview`` saves its
summary to ``.iac-plans/pulumi-{stack}-{env}.json``; ``up``/``destroy`` preview again right before running and
refuse (exit 3) when the operations differ from the reviewed ones, then run with ``--skip-preview`` so nothing else
is planned in between. The org is exported to the program as ``UBLOG_PULUMI_ORG`` so the app stack's
StackReference finds ``{org}/ublog-base/{base env}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from ..config import Config
from ..errors import ConfigError, RefusedError
from .runner import ToolFailed, classify, find_binary, run
from .summary import Change, PlanSummary, Reporter, merge_changes

PROJECTS = {"base": "ublog-base", "app": "ublog-app"}
ORG_ENV_VAR = "UBLOG_PULUMI_ORG"
_OPS = {
    "create": "create",
    "update": "update",
    "delete": "destroy",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "import": "import",
    "import-replacement": "replace",
}
_NAME_KEYS = ("identifier", "bucket", "name", "replicationGroupId", "clusterId", "clusterIdentifier", "family")


def project_name(workdir: Path, stack: str) -> str:
    """The ``name:`` of ``Pulumi.yaml`` in ``workdir`` (default: the documented project of ``stack``)."""
    import yaml

    f = workdir / "Pulumi.yaml"
    if f.is_file():
        data = yaml.safe_load(f.read_text()) or {}
        if data.get("name"):
            return str(data["name"])
    return PROJECTS[stack]


def split_urn(urn: str) -> tuple[str, str]:
    """``urn:pulumi:{stack}::{project}::{parent$type}::{name}`` -> (type, name)."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", urn
    return parts[2].split("$")[-1], "::".join(parts[3:])


def _physical_name(step: Mapping[str, Any]) -> str:
    for side in ("newState", "oldState"):
        state = step.get(side) or {}
        for bag in (state.get("outputs") or {}, state.get("inputs") or {}):
            for key in _NAME_KEYS:
                value = bag.get(key)
                if isinstance(value, str) and value and value != "[secret]":
                    return value
    return ""


def summarize(digest: Mapping[str, Any], *, stack: str, env: str, operation: str = "plan") -> PlanSummary:
    """PlanSummary from a preview digest. Pulumi's own resources (the stack, providers) are not listed."""
    changes: list[Change] = []
    lines: list[str] = []
    for step in digest.get("steps") or []:
        urn = step.get("urn", "")
        rtype, name = split_urn(urn)
        op = step.get("op", "")
        if op != "same":
            lines.append(f"{op:>18}  {rtype}  {name}")
        action = _OPS.get(op)
        if action is None or rtype.startswith("pulumi:"):
            continue
        if action == "replace":
            reasons = step.get("replaceReasons") or []
            detail = ("forced by " + ", ".join(reasons)) if reasons else ""
        elif action == "update":
            detail = ", ".join(step.get("diffReasons") or [])
            detail = f"changes {detail}" if detail else ""
        else:
            detail = ""
        changes.append(Change(action=action, type=rtype, address=urn, name=_physical_name(step), detail=detail))
    for diag in digest.get("diagnostics") or []:
        lines.append(f"{diag.get('severity', 'info')}: {diag.get('message', '').rstrip()}")
    summary_counts = digest.get("changeSummary") or {}
    if summary_counts:
        lines.append("changeSummary: " + ", ".join(f"{k}={v}" for k, v in sorted(summary_counts.items())))
    return PlanSummary(
        tool="pulumi",
        stack=stack,
        env=env,
        operation=operation,
        changes=merge_changes(changes),
        text="\n".join(lines) + "\n",
        source="pulumi preview --json" if operation == "plan" else "pulumi destroy --preview-only --json",
    )


def operations(summary: PlanSummary) -> dict[str, str]:
    return {ch.address: ch.action for ch in summary.changes}


def diff_operations(reviewed: PlanSummary, fresh: PlanSummary) -> list[str]:
    """Human lines for every resource whose operation differs between the reviewed and the fresh preview."""
    old, new = operations(reviewed), operations(fresh)
    out = []
    for urn in sorted(set(old) | set(new)):
        if old.get(urn) != new.get(urn):
            rtype, name = split_urn(urn)
            out.append(f"{rtype} {name}: reviewed {old.get(urn, 'no change')}, now {new.get(urn, 'no change')}")
    return out


class Pulumi:
    """The ``pulumi`` CLI in one project directory."""

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
        self.binary = binary or find_binary("pulumi")
        self.env = {"PULUMI_SKIP_UPDATE_CHECK": "true", **(env or {})}
        self.stream = stream
        self.out = out

    def _run(self, step: str, *args: str, stream: bool | None = None, **kw: Any) -> Any:
        return run(
            [self.binary, *args, "--non-interactive", "--cwd", str(self.workdir)],
            cwd=self.workdir,
            env=self.env,
            tool="pulumi",
            step=step,
            stream=self.stream if stream is None else stream,
            out=self.out,
            **kw,
        )

    def select_stack(self, fq: str, *, create: bool) -> None:
        args = ["stack", "select", "--stack", fq]
        if create:
            args.append("--create")
        try:
            self._run("stack select", *args, stream=False)
        except ToolFailed as exc:
            if not create:
                raise ConfigError(f"pulumi stack {fq} not found or not selectable: {exc.message}") from None
            raise

    def preview(self, fq: str, *, destroy: bool = False) -> dict[str, Any]:
        """The preview digest (``--json``). A failed preview raises with its first error diagnostic."""
        args = ["destroy", "--preview-only"] if destroy else ["preview"]
        res = self._run("preview", *args, "--stack", fq, "--json", stream=False, check=False)
        try:
            digest = json.loads(res.stdout) if res.stdout.strip() else {}
        except json.JSONDecodeError:
            digest = {}
        if res.returncode != 0:
            errors = [d.get("message", "") for d in digest.get("diagnostics") or [] if d.get("severity") == "error"]
            raise classify("pulumi", "preview", "\n".join(errors) + "\n" + res.stderr, res.returncode)
        if not digest:
            raise ToolFailed("pulumi preview printed no JSON", hint="run the same preview without --json to see why")
        return digest

    def up(self, fq: str) -> Any:
        return self._run("up", "up", "--stack", fq, "--yes", "--skip-preview")

    def destroy(self, fq: str) -> Any:
        return self._run("destroy", "destroy", "--stack", fq, "--yes", "--skip-preview")


class PulumiStack:
    """Project ``iac/pulumi/{stack}``, stack ``{org}/{project}/{env}``, reviewed previews in the plan dir."""

    def __init__(
        self,
        cfg: Config,
        stack: str,
        env: str,
        *,
        preview_file: str | os.PathLike[str] | None = None,
        pulumi: Pulumi | None = None,
    ) -> None:
        from .paths import Layout, check_env, check_stack

        self.stack = check_stack(stack)
        self.env = check_env(env)
        layout = Layout.from_config(cfg)
        self.workdir = layout.existing_dir(layout.iac_dir / "pulumi" / self.stack, "Pulumi project")
        self.org = cfg.get("iac.pulumi_org") or "organization"
        self.fq = f"{self.org}/{project_name(self.workdir, self.stack)}/{self.env}"
        self.preview_file = (
            Path(preview_file).resolve() if preview_file else layout.artifact("pulumi", stack, env, ".json")
        )
        self.pulumi = pulumi or Pulumi(self.workdir, env={ORG_ENV_VAR: self.org})

    def _summary(self, *, destroy: bool) -> PlanSummary:
        digest = self.pulumi.preview(self.fq, destroy=destroy)
        return summarize(digest, stack=self.stack, env=self.env, operation="destroy" if destroy else "plan")

    def preview(self, *, allow_destroy: bool = False, report: Reporter | None = None) -> PlanSummary:
        """Preview, summarize, gate; the summary is saved as the reviewed preview only when the gate passed."""
        from .gate import check

        self.pulumi.select_stack(self.fq, create=True)
        summary = self._summary(destroy=False)
        self.preview_file.unlink(missing_ok=True)
        try:
            check(summary, allow_destroy=allow_destroy)
        finally:
            if report:
                report(summary)
        summary.save(self.preview_file)
        return summary

    def _reviewed(self, operation: str) -> PlanSummary:
        if not self.preview_file.is_file():
            raise ConfigError(
                f"no reviewed preview at {self.preview_file}",
                hint=f"run `inv pulumi.preview --stack {self.stack} --env {self.env}` first and review it",
            )
        reviewed = PlanSummary.load(self.preview_file)
        if (reviewed.stack, reviewed.env, reviewed.operation) != (self.stack, self.env, operation):
            raise ConfigError(
                f"{self.preview_file.name} is a {reviewed.operation} preview of {reviewed.stack}/{reviewed.env}",
                hint=f"not of --stack {self.stack} --env {self.env}",
            )
        return reviewed

    def up(self, *, allow_destroy: bool = False, report: Reporter | None = None) -> PlanSummary:
        """Preview again, refuse if it differs from the reviewed preview or fails the gate, then ``pulumi up``."""
        from .gate import check

        reviewed = self._reviewed("plan")
        self.pulumi.select_stack(self.fq, create=False)
        fresh = self._summary(destroy=False)
        try:
            check(fresh, allow_destroy=allow_destroy)
            drift = diff_operations(reviewed, fresh)
            if drift:
                fresh.notes.append("differs from the reviewed preview: " + "; ".join(drift))
                raise RefusedError(
                    f"the preview of {self.fq} changed since it was reviewed: " + "; ".join(drift),
                    hint=f"run `inv pulumi.preview --stack {self.stack} --env {self.env}` again and review it",
                )
        finally:
            if report:
                report(fresh)
        if fresh.has_changes:
            self.pulumi.up(self.fq)
        self.preview_file.unlink(missing_ok=True)
        return fresh

    def destroy(
        self,
        *,
        allow_destroy: bool,
        confirm: Callable[[PlanSummary], None],
        report: Reporter | None = None,
        plan_only: bool = False,
    ) -> PlanSummary:
        """Destroy preview (``destroy --preview-only --json``), gate, ``confirm``, then ``pulumi destroy``."""
        from .gate import check

        self.pulumi.select_stack(self.fq, create=False)
        summary = self._summary(destroy=True)
        try:
            check(summary, allow_destroy=allow_destroy)
        finally:
            if report:
                report(summary)
        if summary.has_changes and not plan_only:
            confirm(summary)
            self.pulumi.destroy(self.fq)
        return summary
