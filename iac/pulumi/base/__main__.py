"""Pulumi entry point of the ``ublog-base`` project (one stack per base env, e.g. ``dev``)."""

import sys
from pathlib import Path

# iac/pulumi holds the shared program package; its __init__ puts the repo root (ublog_ops) on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ublog_pulumi.base import main

main()
