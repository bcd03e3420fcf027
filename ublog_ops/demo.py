"""The demo: the story a new user needs, told on a fresh sandbox with the real `inv` commands.

status on v1.2.2 → ``app.update`` to v1.2.3 → status → a release whose migration fails (exit 4, services
untouched) → a release that crash-loops and is rolled back by ECS's circuit breaker (exit 5) → status.

Each step runs the real CLI in a subprocess against a sandbox started (and stopped) here, and checks both the exit
code and what is running afterwards, so the demo doubles as a smoke test: it passes only when every step behaved
as shown.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ExitStatus

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Step:
    title: str
    argv: list[str]
    expect: int
    why: str
    check: Callable[[dict[str, str]], str | None] | None = None  # returns a problem or None


@dataclass
class StepResult:
    step: Step
    code: int
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def running_tags(environ: dict[str, str], env: str) -> dict[str, str]:
    """service -> image tag it runs now (read with plain boto3, as an independent check)."""
    import boto3

    from .config import load_config
    from .naming import SERVICES, split_image

    names = load_config({}, {"env": env}, environ=environ, dotenv_path=None).names()
    session = boto3.session.Session(
        aws_access_key_id=environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
        region_name=environ["AWS_DEFAULT_REGION"],
    )
    ecs = session.client("ecs", endpoint_url=environ["AWS_ENDPOINT_URL"])
    described = ecs.describe_services(cluster=names.cluster, services=[names.service(s) for s in SERVICES])
    tags = {}
    for svc in described["services"]:
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        main = next(c for c in td["containerDefinitions"] if c.get("essential", True))
        tags[svc["serviceName"]] = split_image(main["image"])[1] or "?"
    return tags


def _all_on(env: str, tag: str) -> Callable[[dict[str, str]], str | None]:
    def check(environ: dict[str, str]) -> str | None:
        tags = running_tags(environ, env)
        wrong = {s: t for s, t in tags.items() if t != tag}
        return f"expected every service on {tag}, found {wrong}" if wrong else None

    return check


def story(env: str, good: str, migrate_fails: str, crashloop: str, start: str) -> list[Step]:
    inv = ["inv"]
    return [
        Step(
            "Where are we?",
            [*inv, "app.status", "--env", env],
            0,
            f"every service runs {start}, as μblog's IaC and the last release left it",
            _all_on(env, start),
        ),
        Step(
            f"Release {good}",
            [*inv, "app.update", "--env", env, "--tag", good],
            0,
            "plan (diff), pre-update task with its logs, all services rolled in parallel, truthful wait",
            _all_on(env, good),
        ),
        Step("Check", [*inv, "app.status", "--env", env], 0, f"every service now runs {good}", _all_on(env, good)),
        Step(
            f"A release whose migration fails ({migrate_fails})",
            [*inv, "app.update", "--env", env, "--tag", migrate_fails],
            int(ExitStatus.PRE_UPDATE_FAILED),
            "the pre-update task exits non-zero: its log lines and exit code are shown, no service is touched",
            _all_on(env, good),
        ),
        Step(
            f"A release that crash-loops ({crashloop})",
            [*inv, "app.update", "--env", env, "--tag", crashloop, "--stall-timeout", "120"],
            int(ExitStatus.ROLLED_BACK),
            "ECS's circuit breaker rolls the crashing service back; we notice within one poll, roll every "
            "service back and say so (exit 5)",
            _all_on(env, good),
        ),
        Step("Check", [*inv, "app.status", "--env", env], 0, f"everything is back on {good}", _all_on(env, good)),
    ]


def run_demo(
    *,
    out: Any = None,
    env: str = "alpha",
    inv: str | None = None,
    sandbox_factory: Callable[[], Any] | None = None,
    time_scale: float | None = None,
) -> list[StepResult]:
    """Run the story on a fresh sandbox; return the step results (the caller decides the exit code)."""
    from .sandbox import Sandbox
    from .sandbox.behaviour import DEMO_TAGS

    out = out or sys.stdout
    inv = inv or str(Path(sys.executable).with_name("inv"))
    factory = sandbox_factory or (lambda: Sandbox(port=0, app_env=env, time_scale=time_scale))
    results: list[StepResult] = []
    with factory() as sandbox:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "UBLOG_", "GITHUB_"))}
        environ.update(sandbox.env_vars())
        environ["UBLOG_POLL_INTERVAL"] = "0.5"
        print(f"sandbox (local AWS) at {sandbox.endpoint}\n", file=out, flush=True)
        for number, step in enumerate(story(env, **DEMO_TAGS), 1):
            argv = [inv, *step.argv[1:]]
            print(f"━━ {number}. {step.title}\n   {step.why}\n$ {shlex.join(step.argv)}", file=out, flush=True)
            started = time.monotonic()
            proc = subprocess.run(argv, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, check=False)
            result = StepResult(step, proc.returncode, time.monotonic() - started)
            if proc.returncode != step.expect:
                result.problems.append(f"exit {proc.returncode}, expected {step.expect}")
            problem = step.check(environ) if step.check else None
            if problem:
                result.problems.append(problem)
            verdict = "as expected" if result.ok else "NOT as expected: " + "; ".join(result.problems)
            print(f"   → exit {proc.returncode} ({verdict}, {result.seconds:.1f}s)\n", file=out, flush=True)
            results.append(result)
    return results
