"""Plan artifacts: the JSON summary saved beside a plan, and the checksum that ties it to the plan file.

The apply step reads the sidecar to check the plan belongs to the stack/env it is asked to apply and that the plan
file is byte-for-byte the one that was summarized and reviewed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .summary import PlanSummary


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_sidecar(summary: PlanSummary, plan_file: Path, sidecar: Path, **meta: Any) -> Path:
    """Save the summary next to the plan, with what the apply step checks: plan checksum, stack, env."""
    data = summary.to_dict()
    data["plan"] = {
        "file": plan_file.name,
        "sha256": file_sha256(plan_file),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **meta,
    }
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps(data, indent=2) + "\n")
    return sidecar


def read_sidecar(sidecar: Path) -> dict[str, Any] | None:
    if not sidecar.is_file():
        return None
    return json.loads(sidecar.read_text())
