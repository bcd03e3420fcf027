"""`inv demo` is the README's first command and doubles as a smoke test: run it for real, as a user would."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_tells_the_whole_story_and_exits_0():
    inv = Path(sys.executable).with_name("inv")
    proc = subprocess.run(
        [str(inv), "demo", "--time-scale", "0.03"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "demo: every step behaved as shown" in out
    assert out.count("(as expected") == 6
    assert "→ exit 4 (as expected" in out  # the failed migration
    assert "→ exit 5 (as expected" in out  # the crash-loop rolled back
    assert "Pre-update failed: migrate exited with status 3" in out  # its log lines were shown
    assert "sandbox (local AWS) at http://127.0.0.1:" in out
