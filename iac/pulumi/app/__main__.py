"""Pulumi entry point of the ``ublog-app`` project (one stack per app env, e.g. ``alpha``)."""

import sys
from pathlib import Path

# iac/pulumi holds the shared program package; its __init__ puts the repo root (ublog_ops) on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ublog_pulumi.app import main

main()
