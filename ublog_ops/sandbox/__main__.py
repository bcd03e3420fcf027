"""``python -m ublog_ops.sandbox serve``: run a sandbox in the foreground until SIGTERM/SIGINT (what
``inv sandbox.up`` starts in the background). SIGHUP wipes and reseeds it. With ``--state-file`` the server writes
its pid, endpoint and reset count there once it is ready (and after every reset)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def _write_state(path: Path | None, data: dict[str, Any]) -> None:
    if path is None:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def serve(args: argparse.Namespace) -> int:
    from . import Sandbox
    from .behaviour import BehaviourError
    from .server import SandboxError

    try:
        sandbox = Sandbox(
            host=args.host,
            port=args.port,
            base_env=args.base_env,
            app_env=args.env,
            behaviour=args.behaviour,
            time_scale=args.time_scale,
            region=args.region,
            prefix=args.ecr_prefix,
        )
        sandbox.start()
    except (BehaviourError, SandboxError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    stop = threading.Event()
    reset = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reset.set())
    state_file = Path(args.state_file) if args.state_file else None
    state = {
        "pid": os.getpid(),
        "endpoint": sandbox.endpoint,
        "region": sandbox.region,
        "env": sandbox.names.env,
        "base_env": sandbox.names.base_env,
        "time_scale": sandbox.behaviour.time_scale,
        "behaviour": str(args.behaviour) if args.behaviour else None,
        "resets": 0,
    }
    _write_state(state_file, state)
    print(f"sandbox ready at {sandbox.endpoint} (pid {os.getpid()})", flush=True)
    try:
        while not stop.wait(0.2):
            if reset.is_set():
                reset.clear()
                sandbox.reset()
                state["resets"] += 1
                _write_state(state_file, state)
                print("sandbox reset and reseeded", flush=True)
    finally:
        sandbox.stop()
        print("sandbox stopped", flush=True)
    return 0


def _env_port() -> int:
    value = os.environ.get("UBLOG_SANDBOX_PORT") or "5055"
    return int(value) if value.isdigit() else 5055


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ublog_ops.sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the sandbox until SIGTERM/SIGINT")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument(
        "--port",
        type=int,
        default=_env_port(),
        help="default UBLOG_SANDBOX_PORT or 5055; 0 = a free port (see --state-file)",
    )
    p.add_argument("--env", default="alpha", help="app env to seed")
    p.add_argument("--base-env", default="dev", help="base env to seed")
    p.add_argument("--ecr-prefix", default="ublog")
    p.add_argument("--region", default="eu-west-1")
    p.add_argument(
        "--behaviour",
        default=os.environ.get("UBLOG_SANDBOX_BEHAVIOUR") or None,
        help="behaviour file (JSON/YAML) layered on the shipped one (default UBLOG_SANDBOX_BEHAVIOUR)",
    )
    p.add_argument("--time-scale", type=float, default=None, help="wall seconds per sandbox second")
    p.add_argument("--state-file", default=None, help="write pid/endpoint JSON here once ready")
    args = parser.parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
