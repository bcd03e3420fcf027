"""μblog's Pulumi programs (Python): the ``base`` stack (project ``ublog-base``) and the ``app`` stack
(project ``ublog-app``).

Both programs import the naming contract (:mod:`ublog_ops.naming`) and the IaC contract
(:mod:`ublog_ops.iac_contract`) from this repository, so names, commands, ports, sizes and listener priorities
have one source for Terraform, Pulumi and CDK. :func:`ensure_repo_on_path` makes ``import ublog_ops`` work when
the Pulumi CLI runs ``__main__.py`` from ``iac/pulumi/{base,app}`` without ``ublog-ops`` being installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: iac/pulumi (holds this package) and the repository root (holds ``ublog_ops``).
PULUMI_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PULUMI_DIR.parents[1]


def ensure_repo_on_path() -> None:
    """Put the repository root (for ``ublog_ops``) and ``iac/pulumi`` (for this package) on ``sys.path``. The root
    goes first: the program must use the contract next to it, never an older installed copy of ``ublog-ops``."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    if str(PULUMI_DIR) not in sys.path:
        sys.path.append(str(PULUMI_DIR))


ensure_repo_on_path()
