"""Sync checks on fixture task trees: they pass when runbooks and tasks agree and FAIL, naming the command, when
a task is renamed, a flag removed, a positional missing, or a task left uncovered."""

import pytest

from ublog_ops.runbook.sync import check, shell_commands
from ublog_ops.tasks.base import ublog_task

from .helpers import FIXTURE_BOOK, fixture_ns, write_runbook


@pytest.fixture
def book(tmp_path):
    return write_runbook(tmp_path, "release", FIXTURE_BOOK)


def test_agreeing_tree_and_runbook_pass(book):
    report = check([book], fixture_ns(), exemptions={})
    assert report.ok, report.text()
    assert set(report.coverage) == {"app.plan", "app.apply", "app.rollback", "app.status", "sandbox.up"}
    assert report.coverage["app.status"] == ["release step 4"]
    assert "5 tasks covered" in report.text()


def test_renamed_task_fails_both_ways(book):
    report = check([book], fixture_ns(rename_status=True), exemptions={})
    text = report.text()
    assert not report.ok
    assert "step 4 (check): `inv app.status --env alpha` → No idea what 'app.status' is!" in text
    assert "[uncovered] task app.state: is in no runbook" in text


def test_removed_flag_fails_naming_the_flag(book):
    @ublog_task
    def plan(c, env=None, tag=None):  # --out removed
        """fixture"""

    report = check([book], fixture_ns(plan_task=plan), exemptions={})
    assert not report.ok
    [problem] = report.problems
    assert problem.kind == "parse"
    assert "inv app.plan --env alpha --tag v1.2.3 --out release.json` → No idea what '--out' is!" in str(problem)
    assert str(problem).startswith(f"{book.path}:16")


def test_optional_list_flags_are_checked_with_their_example(tmp_path):
    @ublog_task
    def rollback(c, env=None):  # --to removed
        """fixture"""

    ns = fixture_ns()
    ns.collections["app"].tasks["rollback"] = rollback
    book = write_runbook(tmp_path, "release", FIXTURE_BOOK)
    report = check([book], ns, exemptions={})
    assert "No idea what '--to' is!" in report.text()


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("inv app.apply", "did not receive required positional arguments: 'plan_file'"),
        ("inv app.status --env", "needed value and was not given one"),
        ("inv app.statuss --env alpha", "No idea what 'app.statuss' is!"),
        ("cd /tmp && FOO=1 inv app.status --nope", "No idea what '--nope' is!"),
        ("echo hi", "calls no inv task"),
    ],
)
def test_each_kind_of_broken_command_is_reported(tmp_path, command, problem):
    book = write_runbook(
        tmp_path,
        "broken",
        f"""
        ---
        title: Broken
        ---

        ```bash {{name=x}}
        {command}
        ```
        """,
    )
    report = check([book], fixture_ns(), exemptions={})
    assert problem in report.text()


def test_exemptions_cover_tasks_and_stale_ones_are_reported(book):
    ns = fixture_ns()

    @ublog_task
    def extra(c):
        """fixture"""

    ns.add_task(extra)
    assert "[uncovered] task extra" in check([book], ns, exemptions={}).text()
    assert check([book], ns, exemptions={"extra": "why"}).ok
    text = check([book], ns, exemptions={"extra": "why", "gone": "old", "app.plan": "x"}).text()
    assert "[stale-exemption] exemption gone: no such task" in text
    assert "[covered-exemption] exemption app.plan: is called by release step 2" in text


def test_shell_commands_split_like_a_shell():
    script = "FOO=1 inv a --x 'y z' && inv b | tee log # inv c\ninv d \\\n  --e f; (inv g)\n"
    assert shell_commands(script) == [
        ["FOO=1", "inv", "a", "--x", "y z"],
        ["inv", "b"],
        ["tee", "log"],
        ["inv", "d", "--e", "f"],
        ["inv", "g"],
    ]
