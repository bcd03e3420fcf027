"""CDK: synth / diff / deploy / destroy of the ``{env}-base`` and ``{env}-app`` stacks of the app in ``iac/cdk``.

The CLI is the npm ``aws-cdk`` pinned in ``iac/cdk/package.json`` (run from ``iac/cdk/node_modules/.bin/cdk``,
i.e. what ``npx cdk`` runs there), the app command is ``python app.py`` with this interpreter, ``--no-notices``
always, context ``-c stack=base|app -c env=NAME``.

Output used: the CDK has no JSON diff, so :func:`parse_diff` reads the CLI's own ``cdk diff`` text — the
"Resources" section's ``[+]/[-]/[~]/[←] TYPE [PATH] LOGICAL_ID [replace|destroy|orphan|may be replaced]`` lines
(format of @aws-cdk/cloudformation-diff) — and the synthesized templates in the cloud assembly
(``{id}.template.json``) for names and for the destroy summary (DeletionPolicy Retain → the resource is kept).

Reviewed-assembly rule: ``diff`` synthesizes into ``.iac-plans/cdk-{stack}-{env}.out`` and saves the summary with
the template's checksum; ``deploy`` deploys exactly that assembly (``--app <dir>``), after checking it is unchanged
and that a fresh diff against the deployed stack still shows the reviewed changes. ``--require-approval`` is always
passed explicitly: ``never`` by default, because the review happened on our diff (and, in CI, in the GitHub
environment) and CDK's own prompt cannot be answered non-interactively.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from ..config import Config
from ..errors import ConfigError, RefusedError
from .artifacts import file_sha256
from .runner import Result, ToolFailed, find_binary, run, strip_ansi
from .summary import Change, PlanSummary, Reporter, merge_changes

APPROVAL_LEVELS = ("never", "any-change", "broadening")
CDK_ENV = {
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",  # the variable that hides the Node 20 EOL banner
    "CDK_DISABLE_VERSION_CHECK": "1",
}
_LINE = re.compile(
    r"^\[(?P<sym>[-+~←])\] (?P<type>\S+) (?P<rest>.+?)(?: (?P<impact>replace|destroy|orphan|may be replaced))?$"
)
_PROP = re.compile(r"[└├]─ \[[-+~]\] (?P<prop>\S+) \((?P<why>requires replacement|may cause replacement)\)")
_NAME_PROPS = ("DBInstanceIdentifier", "BucketName", "ClusterName", "ReplicationGroupId", "TableName", "Name")


def stack_id(stack: str, env: str) -> str:
    return f"{env}-{stack}"


def parse_diff(text: str, templates: Mapping[str, Mapping[str, Any]] | None = None) -> list[Change]:
    """Resource changes from ``cdk diff`` output. ``templates`` (logical id → resource) fill in AWS names."""
    changes: list[Change] = []
    in_resources = False
    current: dict[str, Any] | None = None
    for raw in strip_ansi(text).splitlines():
        line = raw.rstrip()
        if line == "Resources":
            in_resources = True
            continue
        if not in_resources:
            continue
        if line and not line.startswith(("[", " ")):
            in_resources = line == "Resources"  # next section (Outputs, Other Changes, Stack …)
            continue
        m = _LINE.match(line)
        if m:
            sym, impact = m["sym"], m["impact"]
            logical = m["rest"].split(" ")[-1]
            path = " ".join(m["rest"].split(" ")[:-1])
            if sym == "+":
                action = "create"
            elif sym == "←":
                action = "import"
            elif sym == "-":
                action = "forget" if impact == "orphan" else "destroy"
            elif impact in ("replace", "may be replaced"):
                action = "replace"
            elif impact == "orphan":
                action = "forget"
            elif impact == "destroy":
                action = "destroy"
            else:
                action = "update"
            current = {
                "action": action,
                "type": m["type"],
                "address": f"{path} ({logical})" if path else logical,
                "name": _name((templates or {}).get(logical)),
                "possible": impact == "may be replaced",
                "props": [],
            }
            changes.append(current)  # type: ignore[arg-type]
            continue
        p = _PROP.search(line)
        if p and current is not None:
            current["props"].append(p["prop"])
    out = []
    for ch in changes:
        props = ch.pop("props")  # type: ignore[attr-defined]
        detail = ("forced by " + ", ".join(props)) if props and ch["action"] == "replace" else ""  # type: ignore[index]
        out.append(Change(detail=detail, **ch))  # type: ignore[arg-type]
    return merge_changes(out)


def _name(resource: Mapping[str, Any] | None) -> str:
    props = (resource or {}).get("Properties") or {}
    for key in _NAME_PROPS:
        if isinstance(props.get(key), str):
            return props[key]
    return ""


def destroy_changes(template: Mapping[str, Any]) -> list[Change]:
    """What ``cdk destroy`` does to each resource of a template: CloudFormation deletes it, unless its
    DeletionPolicy is Retain / RetainExceptOnCreate (kept in AWS: ``forget``)."""
    out = []
    for logical, res in (template.get("Resources") or {}).items():
        if res.get("Type") == "AWS::CDK::Metadata":
            continue
        path = (res.get("Metadata") or {}).get("aws:cdk:path", "")
        kept = res.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
        out.append(
            Change(
                action="forget" if kept else "destroy",
                type=res.get("Type", ""),
                address=f"{path} ({logical})" if path else logical,
                name=_name(res),
                detail="DeletionPolicy Retain: kept in AWS" if kept else "",
            )
        )
    return out


class Cdk:
    """The pinned CDK CLI of the app in ``workdir`` (``iac/cdk``)."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        binary: str | None = None,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        stream: bool = True,
        out: IO[str] | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        if binary is None:
            find_binary("node", tool="node")
            binary = find_binary("cdk", self.workdir / "node_modules" / ".bin" / "cdk", tool="cdk")
        self.binary = binary
        self.python = python or sys.executable
        self.env = {**CDK_ENV, **(env or {})}
        self.stream = stream
        self.out = out

    def _run(self, step: str, *args: str, stream: bool | None = None, **kw: Any) -> Result:
        return run(
            [self.binary, *args, "--no-notices"],
            cwd=self.workdir,
            env=self.env,
            tool="cdk",
            step=step,
            stream=self.stream if stream is None else stream,
            out=self.out,
            **kw,
        )

    def synth(self, stack: str, env: str, assembly: Path) -> Path:
        """Synthesize ``{env}-{stack}`` into ``assembly``; returns its template file."""
        if assembly.exists():
            shutil.rmtree(assembly)
        app = f"{self.python} app.py"
        self._run("synth", "synth", "--app", app, "-c", f"stack={stack}", "-c", f"env={env}", "--output", str(assembly),
                  "--quiet", stream=False)  # fmt: skip
        template = assembly / f"{stack_id(stack, env)}.template.json"
        if not template.is_file():
            raise ToolFailed(
                f"cdk synth produced no stack {stack_id(stack, env)}",
                hint=f"is env {env!r} a {stack} env in iac/cdk/config/?",
            )
        return template

    def diff(self, assembly: Path, sid: str, *, template: Path | None = None) -> str:
        """``cdk diff`` of the assembly's stack against the deployed one (or a local ``template``); its text."""
        args = ["diff", "--app", str(assembly), sid]
        if template is not None:
            args += ["--template", str(template)]
        return self._run("diff", *args, stream=False).text

    def deploy(self, assembly: Path, sid: str, *, require_approval: str = "never") -> Result:
        if require_approval not in APPROVAL_LEVELS:
            raise ConfigError(f"--require-approval {require_approval!r}", hint="one of " + ", ".join(APPROVAL_LEVELS))
        return self._run("deploy", "deploy", "--app", str(assembly), sid, "--require-approval", require_approval,
                         "--progress", "events")  # fmt: skip

    def destroy(self, assembly: Path, sid: str) -> Result:
        return self._run("destroy", "destroy", "--app", str(assembly), sid, "--force")


class CdkStack:
    """One CDK stack (``{env}-{stack}``) with its reviewed assembly under the plan dir."""

    def __init__(self, cfg: Config, stack: str, env: str, *, cdk: Cdk | None = None) -> None:
        from .paths import Layout, check_env, check_stack

        self.stack = check_stack(stack)
        self.env = check_env(env)
        self.id = stack_id(self.stack, self.env)
        layout = Layout.from_config(cfg)
        self.workdir = layout.existing_dir(layout.iac_dir / "cdk", "CDK app")
        self.assembly = layout.artifact("cdk", stack, env, ".out")
        self.summary_file = layout.artifact("cdk", stack, env, ".json")
        self.cdk = cdk or Cdk(self.workdir)

    @property
    def template_file(self) -> Path:
        return self.assembly / f"{self.id}.template.json"

    def template(self) -> dict[str, Any]:
        return json.loads(self.template_file.read_text())

    def synth(self) -> Path:
        return self.cdk.synth(self.stack, self.env, self.assembly)

    def compare(self, template: Path | None = None) -> PlanSummary:
        """`cdk diff` of the current assembly (no synth) against the deployed stack or ``template``."""
        text = self.cdk.diff(self.assembly, self.id, template=template)
        changes = parse_diff(text, self.template().get("Resources") or {})
        return PlanSummary("cdk", self.stack, self.env, "plan", changes, text, "cdk diff (text) + synthesized template")

    def diff(
        self, *, allow_destroy: bool = False, template: Path | None = None, report: Reporter | None = None
    ) -> PlanSummary:
        """Synthesize, diff, gate; save the summary (with the template checksum) as the reviewed one."""
        from .gate import check

        self.summary_file.unlink(missing_ok=True)
        self.synth()
        summary = self.compare(template)
        try:
            check(summary, allow_destroy=allow_destroy)
        finally:
            if report:
                report(summary)
        data = summary.to_dict()
        data["template_sha256"] = file_sha256(self.template_file)
        self.summary_file.write_text(json.dumps(data, indent=2) + "\n")
        return summary

    def deploy(
        self,
        *,
        allow_destroy: bool = False,
        require_approval: str = "never",
        template: Path | None = None,
        report: Reporter | None = None,
    ) -> PlanSummary:
        """Deploy exactly the reviewed assembly, if a fresh diff still matches the reviewed one and passes the gate."""
        from .gate import check

        if not self.summary_file.is_file() or not self.template_file.is_file():
            raise ConfigError(
                f"no reviewed diff for {self.id}",
                hint=f"run `inv cdk.diff --stack {self.stack} --env {self.env}` first and review it",
            )
        data = json.loads(self.summary_file.read_text())
        if data.get("template_sha256") != file_sha256(self.template_file):
            raise RefusedError(f"the synthesized template of {self.id} changed after review", hint="run cdk.diff again")
        reviewed = PlanSummary.from_dict(data)
        fresh = self.compare(template)
        try:
            check(fresh, allow_destroy=allow_destroy)
            if {c.address: c.action for c in fresh.changes} != {c.address: c.action for c in reviewed.changes}:
                fresh.notes.append("differs from the reviewed diff")
                raise RefusedError(
                    f"the diff of {self.id} changed since it was reviewed (the deployed stack moved on)",
                    hint=f"run `inv cdk.diff --stack {self.stack} --env {self.env}` again and review it",
                )
        finally:
            if report:
                report(fresh)
        if fresh.has_changes:
            self.cdk.deploy(self.assembly, self.id, require_approval=require_approval)
        self.summary_file.unlink(missing_ok=True)
        return fresh

    def destroy(
        self,
        *,
        allow_destroy: bool,
        confirm: Callable[[PlanSummary], None],
        report: Reporter | None = None,
        plan_only: bool = False,
    ) -> PlanSummary:
        """Synthesize, summarize what deleting the stack destroys, gate, ``confirm``, ``cdk destroy --force``."""
        from .gate import check

        self.synth()
        summary = PlanSummary(
            "cdk",
            self.stack,
            self.env,
            "destroy",
            destroy_changes(self.template()),
            json.dumps(self.template().get("Resources"), indent=1),
            "synthesized template (DeletionPolicy)",
        )
        try:
            check(summary, allow_destroy=allow_destroy)
        finally:
            if report:
                report(summary)
        if not plan_only:
            confirm(summary)
            self.cdk.destroy(self.assembly, self.id)
        return summary
