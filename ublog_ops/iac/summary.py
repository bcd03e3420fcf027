"""The one plan-summary shape shared by Terraform, Pulumi and CDK, and its renderings.

Each tool's plan/preview/diff is parsed (from the tool's machine-readable output where it has one) into a
:class:`PlanSummary`: counts to add / change / replace / destroy plus the list of resource changes. It is printed in
the terminal (:meth:`PlanSummary.render_text`), appended to ``$GITHUB_STEP_SUMMARY`` when that is set
(:func:`write_step_summary`: counts, a resource table and the tool's full text in a collapsed ``<details>`` block)
and saved as JSON next to the plan artifact so an apply job can show and re-check what was reviewed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

#: Actions counted in the headline, in display order.
COUNTED = ("create", "update", "replace", "destroy")
#: Every action a change may carry. ``forget``: leaves the tool's state but the cloud resource stays (Terraform
#: ``removed`` blocks, CDK/CloudFormation retained resources); ``import``: adopted into state, nothing created.
ACTIONS = (*COUNTED, "forget", "import")
_LABELS = {"create": "to add", "update": "to change", "replace": "to replace", "destroy": "to destroy"}
#: GitHub rejects a step summary over 1 MiB; keep ours well below so several steps fit.
MAX_FULL_TEXT = 400_000
MAX_TABLE_ROWS = 300


@dataclass(frozen=True)
class Change:
    """One resource change. ``type`` is the tool's own type name (``aws_db_instance``,
    ``aws:rds/instance:Instance``, ``AWS::RDS::DBInstance``); ``address`` the tool's address of the resource."""

    action: str
    type: str
    address: str
    name: str = ""  #: the physical/AWS name when the plan knows it
    detail: str = ""  #: why (e.g. the attributes forcing a replacement)
    possible: bool = False  #: the tool only says it *may* happen (CDK "may be replaced")

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")

    def label(self) -> str:
        text = f"{self.address} ({self.type})"
        if self.name and self.name not in self.address:
            text += f" name={self.name}"
        return text


@dataclass
class PlanSummary:
    tool: str  #: terraform | pulumi | cdk
    stack: str  #: base | app
    env: str
    operation: str  #: plan | destroy
    changes: list[Change] = field(default_factory=list)
    text: str = ""  #: the tool's full human-readable output
    source: str = ""  #: which machine-readable output the changes were parsed from
    notes: list[str] = field(default_factory=list)  #: warnings shown above the table (e.g. the gate's findings)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(COUNTED, 0)
        for ch in self.changes:
            if ch.action in counts:
                counts[ch.action] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def headline(self) -> str:
        c = self.counts
        return ", ".join(f"{c[a]} {_LABELS[a]}" for a in COUNTED)

    @property
    def title(self) -> str:
        verb = "destroy plan" if self.operation == "destroy" else "plan"
        return f"{self.tool.capitalize() if self.tool != 'cdk' else 'CDK'} {verb}: stack {self.stack}, env {self.env}"

    # --- serialisation -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = self.counts
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanSummary:
        changes = [Change(**ch) for ch in data.get("changes", [])]
        keys = ("tool", "stack", "env", "operation", "text", "source", "notes")
        return cls(changes=changes, **{k: data[k] for k in keys if k in data})

    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PlanSummary:
        return cls.from_dict(json.loads(Path(path).read_text()))

    # --- renderings --------------------------------------------------------------------------------------
    def render_text(self) -> str:
        lines = [f"{self.title}", f"  {self.headline()}"]
        if not self.changes:
            lines.append("  no changes")
        for ch in self.changes:
            mark = "may " + ch.action if ch.possible else ch.action
            extra = f"  [{ch.detail}]" if ch.detail else ""
            lines.append(f"  {mark:>12}  {ch.label()}{extra}")
        lines.extend(f"  ! {note}" for note in self.notes)
        return "\n".join(lines)

    def render_markdown(self) -> str:
        out = [f"### {self.title}", "", f"**{self.headline()}**" + (f" (from `{self.source}`)" if self.source else "")]
        if self.notes:
            out.append("")
            out.extend(f"> :warning: {_md_escape(note)}" for note in self.notes)
        out.append("")
        if self.changes:
            out += ["| action | type | resource | detail |", "| --- | --- | --- | --- |"]
            for ch in self.changes[:MAX_TABLE_ROWS]:
                action = f"may {ch.action}" if ch.possible else ch.action
                resource = ch.address + (f" ({ch.name})" if ch.name and ch.name not in ch.address else "")
                out.append(
                    f"| {action} | `{_md_cell(ch.type)}` | `{_md_cell(resource)}` | {_md_escape(_md_cell(ch.detail))} |"
                )
            if len(self.changes) > MAX_TABLE_ROWS:
                out.append(f"| … | | {len(self.changes) - MAX_TABLE_ROWS} more (see the full output) | |")
        else:
            out.append("No changes.")
        text = self.text
        if len(text) > MAX_FULL_TEXT:
            text = text[:MAX_FULL_TEXT] + f"\n… truncated ({len(self.text) - MAX_FULL_TEXT} more characters)"
        fence = "`" * max(3, _longest_backtick_run(text) + 1)
        out += [
            "",
            "<details><summary>Full output</summary>",
            "",
            f"{fence}text",
            text.rstrip("\n"),
            fence,
            "",
            "</details>",
        ]
        return "\n".join(out) + "\n"


def _longest_backtick_run(text: str) -> int:
    best = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        best = max(best, run)
    return best


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def write_step_summary(markdown: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` when it is set; return the file written (else None)."""
    target = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    p = Path(target)
    with p.open("a", encoding="utf-8") as fh:
        fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return p


def write_github_output(values: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Path | None:
    """Append ``key=value`` lines to ``$GITHUB_OUTPUT`` when it is set (values are single-line)."""
    target = (os.environ if environ is None else environ).get("GITHUB_OUTPUT")
    if not target:
        return None
    p = Path(target)
    with p.open("a", encoding="utf-8") as fh:
        for key, value in values.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            fh.write(f"{key}={text.replace(chr(10), ' ')}\n")
    return p


def merge_changes(changes: Iterable[Change]) -> list[Change]:
    """Keep the first change per address (tools may report one replacement as several steps)."""
    seen: dict[str, Change] = {}
    for ch in changes:
        seen.setdefault(ch.address, ch)
    return list(seen.values())


#: Called with a summary once it is complete (before the gate may refuse it), e.g. :func:`publish`.
Reporter = Callable[[PlanSummary], None]


def publish(summary: PlanSummary, *, out: IO[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Print the summary, append it to $GITHUB_STEP_SUMMARY and set step outputs (``changes``, counts) in CI."""
    out = out or sys.stdout
    out.write(summary.render_text() + "\n")
    out.flush()
    write_step_summary(summary.render_markdown(), environ)
    write_github_output({"changes": summary.has_changes, **summary.counts}, environ)
