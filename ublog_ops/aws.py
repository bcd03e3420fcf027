"""The one place that builds boto3 sessions and clients.

boto3 is imported lazily (``inv --list`` must not pay for it). Clients use the adaptive retry mode. The endpoint
comes from the standard ``AWS_ENDPOINT_URL`` variables, which is how the sandbox is reached: no special case.
Every API call made through an :class:`Aws` is recorded in :attr:`Aws.calls` (service, operation), which the
benchmarks and the "plan makes no mutating call" tests read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

RETRY = {"mode": "adaptive", "max_attempts": 10}

#: Operation-name prefixes that only read.
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Query", "Scan", "Filter", "Lookup")


class Aws:
    """Lazily built boto3 session plus cached clients; injected into library code."""

    def __init__(self, profile: str | None = None, region: str | None = None, session: Any = None) -> None:
        self._profile = profile
        self._region = region
        self._session = session
        self._clients: dict[str, Any] = {}
        self.calls: list[tuple[str, str]] = []

    @property
    def session(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session(profile_name=self._profile, region_name=self._region)
        return self._session

    @property
    def region(self) -> str | None:
        return self.session.region_name

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config as BotoConfig

            client = self.session.client(service, config=BotoConfig(retries=RETRY))
            client.meta.events.register("before-call", self._record)
            self._clients[service] = client
        return self._clients[service]

    def _record(self, model: Any = None, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name))

    def call_counts(self) -> Counter[str]:
        return Counter(f"{svc}:{op}" for svc, op in self.calls)

    def mutating_calls(self) -> list[str]:
        return [f"{svc}:{op}" for svc, op in self.calls if not op.startswith(READ_PREFIXES)]


def client_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None
