"""Benchmark: a 4-service App Update on the sandbox must take ≈ T (≤ 1.2 T), not 4 T, where T is the time one
service takes to stabilize; and the non-poll AWS calls must be near the minimum.

    .venv/bin/python bench/bench_app_update.py [--healthy-seconds 60] [--time-scale 0.05] [--poll 0.5] [--json]

How: one in-process sandbox where the release tag's service tasks need ``healthy_seconds`` (sandbox seconds) to be
counted healthy. Run 1 updates only gunicorn (T = its rollout time); run 2 (after a reset) updates all four
services. Both go through the real library (make_plan + apply_plan) with every boto3 call recorded by
``ublog_ops.aws.Aws``. Rollout time = from the "updating N services" step to the end. Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TAG = "v2.0.0-bench"
#: Operations the pipeline repeats while waiting (polls); everything else should be near the minimum.
POLL_OPS = {"ecs:DescribeServices", "ecs:DescribeTasks", "ecs:ListTasks", "logs:GetLogEvents"}


def run(sandbox: object, only: list[str] | None, poll: float) -> tuple[float, float, Counter[str]]:
    from ublog_ops.aws import Aws
    from ublog_ops.config import load_config
    from ublog_ops.pipeline import ApplyOptions, apply_plan
    from ublog_ops.plan import make_plan

    cfg = load_config({}, {"env": "alpha", "rollout.poll_interval": poll}, environ=os.environ, dotenv_path=None)
    aws = Aws()
    started = time.monotonic()
    plan = make_plan(aws, cfg, TAG)
    if only:
        plan.services = {k: v for k, v in plan.services.items() if k in only}
    marks: dict[str, float] = {}

    def say(text: str) -> None:
        if text.startswith("updating "):
            marks["rollout"] = time.monotonic()

    record = apply_plan(aws, cfg, plan, ApplyOptions.from_config(cfg), say=say)
    finished = time.monotonic()
    if not record.ok:
        raise SystemExit(f"bench run failed: {record.outcome}: {record.message}")
    return finished - marks["rollout"], finished - started, aws.call_counts()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--healthy-seconds", type=float, default=60, help="sandbox seconds until a task is healthy")
    parser.add_argument("--time-scale", type=float, default=0.05, help="wall seconds per sandbox second")
    parser.add_argument("--poll", type=float, default=0.5, help="poll interval (wall seconds)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from ublog_ops.sandbox import Sandbox

    behaviour = {"tags": {TAG: {"service": {"healthy_seconds": args.healthy_seconds}}}}
    with Sandbox(port=0, behaviour=behaviour, time_scale=args.time_scale) as sandbox:
        os.environ.update(sandbox.env_vars())
        t_one, total_one, _ = run(sandbox, ["gunicorn"], args.poll)
        sandbox.reset()
        t_four, total_four, calls = run(sandbox, None, args.poll)

    non_poll = {op: n for op, n in sorted(calls.items()) if op not in POLL_OPS}
    poll = {op: n for op, n in sorted(calls.items()) if op in POLL_OPS}
    result = {
        "healthy_seconds": args.healthy_seconds,
        "time_scale": args.time_scale,
        "poll_interval": args.poll,
        "T_one_service_rollout_s": round(t_one, 2),
        "four_service_rollout_s": round(t_four, 2),
        "ratio": round(t_four / t_one, 3),
        "total_one_s": round(total_one, 2),
        "total_four_s": round(total_four, 2),
        "non_poll_calls": non_poll,
        "poll_calls": poll,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"T (one service rollout):   {t_one:6.2f} s")
    print(f"four services, one loop:   {t_four:6.2f} s   ratio {t_four / t_one:.3f} (goal ≤ 1.2)")
    print(f"whole update (1 / 4 svc):  {total_one:6.2f} s / {total_four:.2f} s (incl. plan and pre-update)")
    print("non-poll AWS calls (4-service update):")
    for op, n in non_poll.items():
        print(f"  {n:4d}  {op}")
    print("poll calls:")
    for op, n in poll.items():
        print(f"  {n:4d}  {op}")


if __name__ == "__main__":
    main()
