"""The release record's renderings: step summary markdown, GITHUB_OUTPUT lines, JSON, exit mapping."""

import json

from ublog_ops.errors import ExitStatus, PreUpdateFailed, RolloutFailed
from ublog_ops.record import PreUpdateRecord, ReleaseRecord, ServiceRecord, write_outputs

ARN = "arn:aws:ecs:eu-west-1:123456789012:task-definition/"


def make_record():
    record = ReleaseRecord(
        env="alpha",
        cluster="alpha-cluster",
        inputs={"tag": "v1.2.3", "backend_only": False},
        images={"backend": {"repository": "ublog-backend", "tag": "v1.2.3", "digest": "sha256:abc"}},
    )
    record.services["gunicorn"] = ServiceRecord(
        "gunicorn", "alpha-gunicorn", ARN + "alpha-gunicorn:4", ARN + "alpha-gunicorn:5", 2, "COMPLETED", seconds=31
    )
    record.services["web-ui"] = ServiceRecord(
        "web-ui", "alpha-web-ui", ARN + "alpha-web-ui:7", ARN + "alpha-web-ui:8", 1, "FAILED", reason="crash"
    )
    record.pre_update = PreUpdateRecord(
        task_id="t1",
        exit_codes={"backend_update": 0},
        succeeded=True,
        line_count=2,
        last_lines=["Applying blog.0002... OK", "done"],
    )
    return record


def test_rollback_command_names_every_previous_revision():
    assert make_record().rollback_command() == (
        "inv app.rollback --env alpha --to alpha-gunicorn:4 --to alpha-web-ui:7"
    )


def test_markdown_summary_has_inputs_revisions_digest_logs_and_rollback():
    record = make_record()
    record.finish(ExitStatus.ROLLED_BACK, "rolled back", "rollout failed: alpha-web-ui: FAILED")
    md = record.markdown()
    assert "App Update `alpha` — rolled back (exit 5)" in md
    assert "`alpha-gunicorn:4` → `alpha-gunicorn:5`" in md
    assert "sha256:abc" in md
    assert "Applying blog.0002... OK" in md
    assert "inv app.rollback --env alpha --to alpha-gunicorn:4 --to alpha-web-ui:7" in md
    assert "tag=`v1.2.3`" in md


def test_github_files_written_only_when_variables_set(tmp_path):
    record = make_record()
    assert record.write_github({}) == []
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    written = record.write_github({"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)})
    assert written == [str(summary), str(output)]
    assert "App Update" in summary.read_text()
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert lines["outcome"] == "pending"
    assert lines["backend-digest"] == "sha256:abc"
    assert lines["pre-update-exit-code"] == "0"
    assert lines["gunicorn-task-definition"].endswith("alpha-gunicorn:5")


def test_multiline_output_uses_heredoc(tmp_path):
    path = tmp_path / "out"
    write_outputs(path, {"a": "one", "b": "x\ny"})
    text = path.read_text().splitlines()
    assert text[0] == "a=one"
    assert text[1].startswith("b<<ghadelim_")
    assert text[2:4] == ["x", "y"]
    assert text[4] == text[1].split("<<", 1)[1]


def test_error_carries_exit_status_and_json_has_exit_code():
    record = make_record()
    assert record.error() is None
    record.finish(ExitStatus.PRE_UPDATE_FAILED, "pre-update failed", "exited 3", "fix it")
    err = record.error()
    assert isinstance(err, PreUpdateFailed) and err.status == 4 and err.hint == "fix it"
    record.finish(ExitStatus.NOT_ROLLED_BACK, "failed, not rolled back")
    assert isinstance(record.error(), RolloutFailed) and record.error().status == 6
    data = json.loads(record.to_json())
    assert data["exit_code"] == 6
    assert data["rollback_command"].startswith("inv app.rollback")


def test_no_rollback_command_when_no_service_was_touched():
    record = make_record()
    for svc in record.services.values():
        svc.new_task_definition = None
    record.finish(ExitStatus.PRE_UPDATE_FAILED, "pre-update failed")
    assert record.rollback_command() is None
    assert "Roll back with" not in record.markdown()
    assert record.outputs()["rollback-command"] == ""
