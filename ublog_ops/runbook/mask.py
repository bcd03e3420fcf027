"""Secret masking for everything a run prints or records.

Masked: values of parameters declared ``secret: true``; values of environment variables (the runner's own and
those of the runbook's ``env_file``) whose NAMES look secret (``*SECRET*``, ``*TOKEN*``, ``*PASSWORD*``,
``*PASSPHRASE*``, ``*PRIVATE_KEY*``, ``*_API_KEY``, ``*CREDENTIAL*`` …); and text that LOOKS like a credential
whatever its origin (AWS access key ids, GitHub / Pulumi / Slack tokens, PEM private keys, ``password=…``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"
SECRET_NAME_RE = re.compile(
    r"(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|PRIVATE_KEY|API_KEY|APIKEY|CREDENTIAL|SESSION_KEY|DSN)",
    re.I,
)
#: Credential-shaped text, masked wherever it appears.
SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    re.compile(r"\bpul-[0-9a-f]{40}\b"),  # Pulumi access tokens
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),  # Slack tokens
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
    re.compile(r"(?i)(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
)
#: ``NAME=value`` where NAME looks like a secret variable (``export AWS_SECRET_ACCESS_KEY=…``), and
#: ``password=…`` / ``token: …``: the value is masked, the name kept.
ASSIGNMENT_RES: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"\b([A-Z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|API_KEY|PRIVATE_KEY)[A-Z0-9_]*=)"
        r"(?:\"[^\"]*\"|'[^']*'|[^\s\"'&;]+)"
    ),
    re.compile(r"(?i)\b((?:password|passwd|passphrase|secret|token)\s*[=:]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s\"'&,;]+)"),
)
#: Shorter values are not masked by value (masking "1" or "dev" everywhere would destroy the record).
MIN_SECRET_LEN = 4


def secret_env_values(environ: Mapping[str, str]) -> list[str]:
    """Values of variables whose names look secret."""
    return [v for k, v in environ.items() if SECRET_NAME_RE.search(k) and len(v or "") >= MIN_SECRET_LEN]


class Masker:
    """Replaces known secret values and credential-shaped text with ``***``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            if value and len(value) >= MIN_SECRET_LEN:
                self._values.add(value)
                # multi-line secrets are also masked line by line (output is handled a line at a time)
                self._values.update(part for part in value.splitlines() if len(part) >= MIN_SECRET_LEN)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for value in sorted(self._values, key=len, reverse=True):  # longest first: no partial leftovers
            if value in text:
                text = text.replace(value, MASK)
        for pattern in SECRET_PATTERNS:
            text = pattern.sub(MASK, text)
        for pattern in ASSIGNMENT_RES:
            text = pattern.sub(lambda m: m[1] + MASK, text)
        return text
