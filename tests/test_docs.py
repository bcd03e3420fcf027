"""Docs that must stay true to the code: the README's exit-code table and its two quick-start commands."""

import re
from pathlib import Path

from ublog_ops.errors import EXIT_DESCRIPTIONS, ExitStatus

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_exit_code_table_matches_exit_status():
    rows = dict(re.findall(r"^\| +(\d+) \| (.+?) \|$", README, re.M))
    assert {int(k) for k in rows} == {int(s) for s in ExitStatus}
    for status in ExitStatus:
        assert rows[str(int(status))] == EXIT_DESCRIPTIONS[status]


def test_quick_start_commands_exist_and_ci_runs_the_test_command():
    block = README.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["scripts/demo", "scripts/test"]
    for command in commands:
        assert (ROOT / command).stat().st_mode & 0o111
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
    assert "inv demo" in (ROOT / "scripts" / "demo").read_text()
