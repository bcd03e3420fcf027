"""The one summary shape: counts, terminal text, GitHub step-summary markdown (collapsed full output), outputs."""

from __future__ import annotations

from ublog_ops.iac.summary import MAX_FULL_TEXT, Change, PlanSummary, publish, write_step_summary
from ublog_ops.iac.terraform import summarize


def sample(text="full text") -> PlanSummary:
    return PlanSummary(
        tool="terraform",
        stack="app",
        env="alpha",
        operation="plan",
        changes=[
            Change("create", "aws_ecs_cluster", "aws_ecs_cluster.this", name="alpha-cluster"),
            Change("update", "aws_lb_listener_rule", "aws_lb_listener_rule.web|ui"),
            Change("replace", "aws_ecs_task_definition", "aws_ecs_task_definition.beat", detail="forced by <cpu>"),
            Change("destroy", "aws_cloudwatch_log_group", "aws_cloudwatch_log_group.old"),
            Change("forget", "aws_s3_bucket", "aws_s3_bucket.kept"),
        ],
        text=text,
        source="terraform show -json",
    )


def test_counts_and_terminal_text():
    s = sample()
    assert s.counts == {"create": 1, "update": 1, "replace": 1, "destroy": 1}
    text = s.render_text()
    assert "1 to add, 1 to change, 1 to replace, 1 to destroy" in text
    assert "forget  aws_s3_bucket.kept" in text and "name=alpha-cluster" in text


def test_markdown_table_and_collapsed_full_output():
    md = sample("line ``` with a fence\nnext").render_markdown()
    assert md.startswith("### Terraform plan: stack app, env alpha\n")
    assert "**1 to add, 1 to change, 1 to replace, 1 to destroy** (from `terraform show -json`)" in md
    assert "| replace | `aws_ecs_task_definition` | `aws_ecs_task_definition.beat` | forced by &lt;cpu&gt; |" in md
    assert "`aws_lb_listener_rule.web\\|ui`" in md  # a pipe cannot break the table
    _head, details = md.split("<details><summary>Full output</summary>")
    assert "````text\nline ``` with a fence\nnext\n````" in details  # fence longer than any run inside
    assert details.rstrip().endswith("</details>")


def test_huge_output_is_truncated_for_github():
    md = sample("x" * (MAX_FULL_TEXT + 5000)).render_markdown()
    assert "truncated (5000 more characters)" in md
    assert len(md) < MAX_FULL_TEXT + 10_000


def test_step_summary_appends_and_outputs(tmp_path):
    target = tmp_path / "summary.md"
    outputs = tmp_path / "outputs"
    env = {"GITHUB_STEP_SUMMARY": str(target), "GITHUB_OUTPUT": str(outputs)}
    write_step_summary("first\n", env)
    import io

    buf = io.StringIO()
    publish(sample(), out=buf, environ=env)
    assert target.read_text().startswith("first\n### Terraform plan")
    assert outputs.read_text().splitlines() == ["changes=true", "create=1", "update=1", "replace=1", "destroy=1"]
    assert "1 to destroy" in buf.getvalue()
    assert write_step_summary("x", {}) is None


def test_no_changes():
    s = PlanSummary("pulumi", "base", "dev", "plan")
    assert not s.has_changes and "no changes" in s.render_text() and "No changes." in s.render_markdown()


def test_round_trip(tmp_path):
    s = sample()
    s.notes.append("a note")
    again = PlanSummary.load(s.save(tmp_path / "s.json"))
    assert again == s


def test_sensitive_attributes_never_become_names():
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": "aws_secretsmanager_secret.db",
                "mode": "managed",
                "type": "aws_secretsmanager_secret",
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": {"name": "hunter2-secret-name", "description": "x"},
                    "after_sensitive": {"name": True},
                },
            }
        ],
    }
    s = summarize(plan, stack="base", env="dev")
    assert s.changes[0].name == ""
    assert "hunter2" not in s.render_markdown() + s.render_text()
