"""Task: `inv demo` — the whole App Update story on a fresh, self-starting sandbox (also a smoke test)."""

from __future__ import annotations

from invoke import Context

from ..errors import UblogError
from .base import ublog_task


@ublog_task(
    help={
        "env": "app env of the sandbox (default alpha)",
        "time_scale": "wall seconds per sandbox second (default: the behaviour file's, 0.1)",
    }
)
def demo(c: Context, env: str = "alpha", time_scale: float | None = None) -> None:
    """Start a sandbox, run status → update → failed migration → crash-loop rollback → status, stop it.
    Exits 0 only when every step behaved as shown."""
    from ..demo import run_demo

    results = run_demo(env=env, time_scale=float(time_scale) if time_scale else None)
    bad = [r for r in results if not r.ok]
    print("demo: " + ("every step behaved as shown" if not bad else f"{len(bad)} step(s) did not"))
    for r in bad:
        print(f"  - {r.step.title}: {'; '.join(r.problems)}")
    if bad:
        raise UblogError(
            f"demo: {len(bad)} of {len(results)} steps did not behave as expected",
            hint="rerun a step by hand on `inv sandbox.up` to investigate",
        )
