"""Tests of iac/: per-tool fact extraction (facts_terraform, facts_cdk, facts_pulumi) and their parity."""

from __future__ import annotations

from collections.abc import Iterable

from ublog_ops.iac_contract import Fact


def diff_facts(sides: dict[str, Iterable[Fact]]) -> str:
    """Readable difference of fact sets, e.g. ``{"terraform": a, "contract": b}``: per fact, which sides have it.
    Facts with the same (kind, name) but different props are shown next to each other."""
    sets = {label: set(facts) for label, facts in sides.items()}
    everything = set().union(*sets.values())
    lines = []
    for item in sorted(everything):
        have = [label for label, facts in sets.items() if item in facts]
        if len(have) == len(sets):
            continue
        missing = [label for label in sets if label not in have]
        props = ", ".join(f"{k}={v!r}" for k, v in item.props)
        lines.append(f"  {item.kind} {item.name!r} ({props})")
        lines.append(f"      only in: {', '.join(have)}; missing in: {', '.join(missing)}")
    return "\n".join(lines) if lines else "  (no difference)"
