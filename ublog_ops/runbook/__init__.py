"""Executable runbooks: markdown procedures whose steps are `inv` commands, run like a notebook and recorded.

- :mod:`.params` — parameter declarations, validation and ``{{ name }}`` references;
- :mod:`.parser` — runbook files (front matter, prose, fenced steps with attributes);
- :mod:`.render` — terminal views (rich);
- :mod:`.runner` — the step runner (prompts, streaming, stop at first failure, resume, dry run);
- :mod:`.record` — the executed copy of a run under ``runbooks/runs/`` and the list of past runs;
- :mod:`.mask` — secret masking of everything printed or recorded;
- :mod:`.sync` — checks that runbooks and the Invoke task tree agree (run by the test suite).

The format is documented in ``runbooks/README.md``.
"""

from .params import Param, RunbookError
from .parser import Runbook, Step, find_runbook, load_all, load_runbook, parse_runbook

__all__ = ["Param", "Runbook", "RunbookError", "Step", "find_runbook", "load_all", "load_runbook", "parse_runbook"]
