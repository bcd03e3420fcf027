"""The per-env deploy lock: one conditional write in DynamoDB.

The table is the state-lock table μblog's bootstrap already creates for Terraform (hash key ``LockID``, string;
``Config.lock_table``). Our items live under their own key, ``ublog-ops/deploy/{env}``, so they never collide with
Terraform's ``{bucket}/{path}`` locks. An item records who holds the lock (``Owner``: user@host and pid, or the
GitHub run), since when (``Since``), until when (``Expires``, epoch seconds; ``ExpiresAt``, ISO) and a random
``Token`` that only the holder knows.

* :meth:`DeployLock.acquire` — PutItem conditioned on "no item, or the item has expired": two deploys can never both
  get it, and a lock whose owner died expires after ``ttl`` seconds and may then be taken over.
* :meth:`DeployLock.release` — DeleteItem conditioned on our token: a lock taken over after it expired is left alone.
* :meth:`DeployLock.refresh` — push the expiry out while a long deploy still runs.
* :meth:`DeployLock.force_unlock` — delete whatever holds it (``inv app.unlock --env E`` / ``--force-unlock``).
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from .aws import client_error_code
from .errors import RefusedError

KEY_PREFIX = "ublog-ops/deploy/"


def default_owner(environ: Mapping[str, str] | None = None) -> str:
    """Who is deploying: the GitHub run when in Actions, else ``user@host (pid N)``."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_RUN_ID"):
        repo = env.get("GITHUB_REPOSITORY", "?")
        return f"github:{repo} run {env['GITHUB_RUN_ID']} by {env.get('GITHUB_ACTOR', '?')}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class DeployLock:
    """A deploy lock for one env. Usable as a context manager (acquire on enter, release on exit)."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        env: str,
        owner: str | None = None,
        ttl: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.dynamodb = dynamodb
        self.table = table
        self.env = env
        self.owner = owner or default_owner()
        self.ttl = int(ttl)
        self.clock = clock
        self.key = f"{KEY_PREFIX}{env}"
        self.token: str | None = None

    # --- reading ------------------------------------------------------------------------------------------------
    def holder(self) -> dict[str, Any] | None:
        """The current lock item as ``{owner, since, expires_at, expires, expired, key}``, or None when free."""
        try:
            item = self.dynamodb.get_item(TableName=self.table, Key=self._key(), ConsistentRead=True).get("Item")
        except Exception as exc:
            self._table_missing(exc)
            raise
        return self._view(item) if item else None

    def check_free(self) -> None:
        """Refuse (without writing) when a live lock is held by someone else — preflight's read-only check."""
        held = self.holder()
        if held and not held["expired"]:
            raise self.held_error(held)

    # --- writing ------------------------------------------------------------------------------------------------
    def acquire(self, _retry: bool = True) -> DeployLock:
        """Take the lock or raise RefusedError naming its holder. An expired lock is taken over."""
        now = self.clock()
        token = uuid.uuid4().hex
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **self._key(),
                    "Owner": {"S": self.owner},
                    "Since": {"S": _iso(now)},
                    "Expires": {"N": str(int(now) + self.ttl)},
                    "ExpiresAt": {"S": _iso(int(now) + self.ttl)},
                    "Token": {"S": token},
                    "Tool": {"S": "ublog-ops"},
                },
                ConditionExpression="attribute_not_exists(LockID) OR #e < :now",
                ExpressionAttributeNames={"#e": "Expires"},
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except Exception as exc:
            self._table_missing(exc)
            if client_error_code(exc) != "ConditionalCheckFailedException":
                raise
            held = self.holder()
            if held is None and _retry:  # released between our write and our read: one more try
                return self.acquire(_retry=False)
            raise self.held_error(held or {"owner": "?", "since": "?", "expires_at": "?"}) from None
        self.token = token
        return self

    def refresh(self) -> bool:
        """Extend our lock by ``ttl`` from now; False when it is no longer ours (expired and taken over)."""
        if self.token is None:
            return False
        now = self.clock()
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(),
                UpdateExpression="SET #e = :e, ExpiresAt = :ea",
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#e": "Expires", "#t": "Token"},
                ExpressionAttributeValues={
                    ":e": {"N": str(int(now) + self.ttl)},
                    ":ea": {"S": _iso(int(now) + self.ttl)},
                    ":t": {"S": self.token},
                },
            )
        except Exception as exc:
            if client_error_code(exc) == "ConditionalCheckFailedException":
                self.token = None
                return False
            raise
        return True

    def release(self) -> bool:
        """Release our lock; False (and nothing deleted) when it was not ours any more or never taken."""
        if self.token is None:
            return False
        token, self.token = self.token, None
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key=self._key(),
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "Token"},
                ExpressionAttributeValues={":t": {"S": token}},
            )
        except Exception as exc:
            if client_error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def force_unlock(self) -> dict[str, Any] | None:
        """Delete the lock whoever holds it; returns what was deleted (holder view) or None if it was free."""
        try:
            old = self.dynamodb.delete_item(TableName=self.table, Key=self._key(), ReturnValues="ALL_OLD")
        except Exception as exc:
            self._table_missing(exc)
            raise
        item = old.get("Attributes")
        return self._view(item) if item else None

    # --- context manager ----------------------------------------------------------------------------------------
    def __enter__(self) -> DeployLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # --- helpers ------------------------------------------------------------------------------------------------
    def _key(self) -> dict[str, Any]:
        return {"LockID": {"S": self.key}}

    def _view(self, item: Mapping[str, Any]) -> dict[str, Any]:
        expires = int(item.get("Expires", {}).get("N", "0"))
        return {
            "key": self.key,
            "owner": item.get("Owner", {}).get("S", "?"),
            "since": item.get("Since", {}).get("S", "?"),
            "expires": expires,
            "expires_at": _iso(expires),
            "expired": expires < self.clock(),
        }

    def held_error(self, held: Mapping[str, Any]) -> RefusedError:
        return RefusedError(
            f"deploy lock for {self.env} is held by {held['owner']} since {held['since']} "
            f"(expires {held['expires_at']})",
            hint=f"wait for that deploy to finish; if its owner is gone: inv app.unlock --env {self.env} "
            "(or pass --force-unlock)",
        )

    def _table_missing(self, exc: BaseException) -> None:
        if client_error_code(exc) == "ResourceNotFoundException":
            raise RefusedError(
                f"deploy-lock table {self.table} not found",
                hint="run the bootstrap stack, or point UBLOG_LOCK_TABLE at the state-lock table",
            ) from None
