"""`inv sandbox.up|status|reset|down` through the real `inv` binary, in a scratch directory on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3

from ublog_ops.errors import ExitStatus

ROOT = Path(__file__).resolve().parents[2]
INV = Path(sys.executable).with_name("inv")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inv(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(INV), "-r", str(ROOT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


def test_up_status_reset_down_cycle(tmp_path):
    behaviour = tmp_path / "behaviour.yaml"
    behaviour.write_text("time_scale: 0.05\ntags:\n  v2.0.0-custom:\n    one_off: {exit_code: 7}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "UBLOG_", "INVOKE_"))}
    env["UBLOG_SANDBOX_BEHAVIOUR"] = str(behaviour)
    env["UBLOG_SANDBOX_PORT"] = "1"  # the --port flag must win over config
    port = free_port()
    state = tmp_path / ".sandbox"
    pid = None
    try:
        r = inv(tmp_path, "sandbox.status", env=env)
        assert r.returncode == 0, r.stderr
        assert "not running" in r.stdout
        r = inv(tmp_path, "sandbox.down", env=env)
        assert (r.returncode, r.stdout.strip()) == (0, "no sandbox running; nothing to stop")

        r = inv(tmp_path, "sandbox.up", "--port", str(port), "--time-scale", "0.04", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        pid = int((state / "pid").read_text())
        assert alive(pid)
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in r.stdout
        assert f"source {Path('.sandbox') / 'env'}" in r.stdout
        assert "time scale 0.04" in r.stdout  # the flag wins over the behaviour file's 0.05

        # The env file points boto3 at the sandbox, which was seeded with the behaviour file's tags.
        check = subprocess.run(
            [
                "bash",
                "-c",
                f'export AWS_PROFILE=nonexistent; source {state / "env"}; "{sys.executable}" -c '
                '\'import boto3; print(sorted(t for i in boto3.client("ecr").describe_images('
                'repositoryName="ublog-backend")["imageDetails"] for t in i["imageTags"]))\'',
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        assert "'v2.0.0-custom'" in check.stdout and "'v1.3.0-crashloop'" in check.stdout

        again = inv(tmp_path, "sandbox.up", "--port", str(free_port()), env=env)
        assert again.returncode == ExitStatus.REFUSED
        assert f"a sandbox is already running (pid {pid}" in again.stderr
        assert "Traceback" not in again.stderr

        r = inv(tmp_path, "sandbox.status", env=env)
        assert r.returncode == 0, r.stderr
        assert f"running at http://127.0.0.1:{port} (pid {pid})" in r.stdout
        assert "cluster: alpha-cluster" in r.stdout
        for name in ("gunicorn", "default", "beat", "web-ui"):
            row = next(line.split() for line in r.stdout.splitlines() if line.split()[:1] == [f"alpha-{name}"])
            assert row[1:6] == [f"alpha-{name}:1", "v1.2.2", "1", "1", "0"]

        # Change something, then reset: the sandbox is back to its seeded state.
        ecs = boto3.client(
            "ecs",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ecs.update_service(cluster="alpha-cluster", service="alpha-beat", desiredCount=0)
        assert (
            ecs.describe_services(cluster="alpha-cluster", services=["alpha-beat"])["services"][0]["desiredCount"] == 0
        )
        r = inv(tmp_path, "sandbox.reset", env=env)
        assert r.returncode == 0, r.stderr
        assert (
            ecs.describe_services(cluster="alpha-cluster", services=["alpha-beat"])["services"][0]["desiredCount"] == 1
        )

        r = inv(tmp_path, "sandbox.down", env=env)
        assert r.returncode == 0, r.stderr
        assert f"sandbox stopped (pid {pid}" in r.stdout
        assert not alive(pid)
        assert not (state / "pid").exists() and not (state / "env").exists()
        r = inv(tmp_path, "sandbox.down", env=env)
        assert (r.returncode, r.stdout.strip()) == (0, "no sandbox running; nothing to stop")
        r = inv(tmp_path, "sandbox.reset", env=env)
        assert r.returncode == ExitStatus.REFUSED
    finally:
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_up_rejects_bad_input_before_starting_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tags:\n  v1: {service: {stal: true}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "UBLOG_", "INVOKE_"))}
    env["UBLOG_SANDBOX_BEHAVIOUR"] = str(bad)
    r = inv(tmp_path, "sandbox.up", "--port", str(free_port()), env=env)
    assert r.returncode == ExitStatus.BAD_INPUT
    assert "unknown key(s) stal" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / ".sandbox" / "pid").exists()
    for flag, value in (("--port", "http"), ("--port", "70000"), ("--time-scale", "0")):
        r = inv(tmp_path, "sandbox.up", flag, value, env={**env, "UBLOG_SANDBOX_BEHAVIOUR": ""})
        assert r.returncode == ExitStatus.BAD_INPUT, r.stderr
        assert f"{flag} {value!r} is not valid" in r.stderr
    r = inv(tmp_path, "sandbox.up", "--env", "Alpha_1", env={**env, "UBLOG_SANDBOX_BEHAVIOUR": ""})
    assert r.returncode == ExitStatus.BAD_INPUT, r.stderr
    assert "invalid env name 'Alpha_1'" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = inv(tmp_path, "sandbox.up", "--port", str(port), env={**env, "UBLOG_SANDBOX_BEHAVIOUR": ""})
    assert r.returncode == ExitStatus.REFUSED, r.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr
    assert not (tmp_path / ".sandbox" / "pid").exists()
