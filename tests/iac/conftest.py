"""Make ``tests.iac.*`` importable (the parity test imports tests.iac.facts_terraform|cdk|pulumi by that name)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
