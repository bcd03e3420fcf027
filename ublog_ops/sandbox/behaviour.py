"""The sandbox's behaviour file: what ECS does with a task, chosen by the image tag of its essential container.

Layers, lowest first: the shipped ``behaviour.yaml`` next to this module → a user file (path, JSON or YAML; the
``UBLOG_SANDBOX_BEHAVIOUR`` setting) or dict → an explicit ``time_scale``. Layers are deep-merged, so a user file
only lists what it changes. Unknown keys are rejected with the allowed ones named (a typo must not silently
become "healthy"). The schema is documented in the README ("Sandbox").
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).with_name("behaviour.yaml")

#: The tags the demo and the docs use (the shipped file defines each of them).
START_TAG = "v1.2.2"
DEMO_TAGS: dict[str, str] = {
    "start": START_TAG,
    "good": "v1.2.3",
    "migrate_fails": "v1.3.0-migrate-fails",
    "crashloop": "v1.3.0-crashloop",
}
TAG_PULL_ERROR = "v1.3.0-pull-error"
TAG_SLOW = "v1.3.0-slow"
TAG_STALL = "v1.3.0-stall"
TAG_SIDECAR_FAILS = "v1.3.0-sidecar-fails"

ONE_OFF_KEYS = {
    "provision_seconds",
    "pending_seconds",
    "run_seconds",
    "stop_seconds",
    "exit_code",
    "sidecar_exit_code",
    "stop_exit_code",
    "fail_to_start",
    "logs",
    "sidecar_logs",
}
SERVICE_KEYS = {
    "provision_seconds",
    "pending_seconds",
    "healthy_seconds",
    "stop_seconds",
    "stop_exit_code",
    "crash_after_seconds",
    "crash_exit_code",
    "stall",
    "fail_to_start",
    "restart_delay_seconds",
    "logs",
}
BREAKER_KEYS = {"failure_threshold", "unable_after_failures", "rollback_delay_seconds"}
TAG_KEYS = {"one_off", "service", "circuit_breaker", "pushed"}
TOP_KEYS = {"time_scale", "defaults", "tags"}


class BehaviourError(ValueError):
    """A behaviour file or dict that breaks the schema."""


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def read_file(path: str | Path) -> dict[str, Any]:
    """Read a behaviour file (``.json`` as JSON, anything else as YAML, which also accepts JSON)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BehaviourError(f"cannot read behaviour file {p}: {exc.strerror or exc}") from None
    if p.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BehaviourError(f"behaviour file {p} is not valid JSON: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise BehaviourError(f"behaviour file {p} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BehaviourError(f"behaviour file {p} must hold a mapping at the top level")
    return data


def _check_keys(where: str, value: Any, allowed: set[str]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise BehaviourError(f"{where} must be a mapping, got {type(value).__name__}")
    unknown = set(value) - allowed
    if unknown:
        raise BehaviourError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _check_entry(where: str, entry: Any) -> None:
    _check_keys(where, entry, TAG_KEYS)
    if not entry:
        return
    _check_keys(f"{where}.one_off", entry.get("one_off"), ONE_OFF_KEYS)
    _check_keys(f"{where}.service", entry.get("service"), SERVICE_KEYS)
    _check_keys(f"{where}.circuit_breaker", entry.get("circuit_breaker"), BREAKER_KEYS)
    for section in ("one_off", "service", "circuit_breaker"):
        for key, value in (entry.get(section) or {}).items():
            if key.endswith("_seconds") and value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise BehaviourError(f"{where}.{section}.{key} must be a number >= 0 (or null), got {value!r}")
            if key.endswith("exit_code") and not (isinstance(value, int) and not isinstance(value, bool)):
                raise BehaviourError(f"{where}.{section}.{key} must be an integer, got {value!r}")


def validate(data: Mapping[str, Any]) -> None:
    """Raise BehaviourError if ``data`` (one layer) breaks the schema."""
    _check_keys("behaviour", data, TOP_KEYS)
    scale = data.get("time_scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0):
        raise BehaviourError(f"time_scale must be a number > 0, got {scale!r}")
    _check_entry("defaults", data.get("defaults"))
    tags = data.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise BehaviourError("tags must be a mapping of image tag -> behaviour")
    for tag, entry in tags.items():
        _check_entry(f"tags.{tag}", entry)


@dataclass(frozen=True)
class Behaviour:
    """The merged behaviour. ``one_off(tag)`` / ``service(tag)`` / ``breaker(tag)`` give the settings for a tag."""

    data: Mapping[str, Any]

    @property
    def time_scale(self) -> float:
        return float(self.data.get("time_scale") or 1.0)

    @property
    def tags(self) -> list[str]:
        return list((self.data.get("tags") or {}).keys())

    def pushed_tags(self) -> list[str]:
        """Tags to push to both ECR repositories (every listed tag unless ``pushed: false``)."""
        return [t for t, e in (self.data.get("tags") or {}).items() if (e or {}).get("pushed", True)]

    def _section(self, tag: str | None, section: str) -> dict[str, Any]:
        merged = copy.deepcopy((self.data.get("defaults") or {}).get(section) or {})
        entry = (self.data.get("tags") or {}).get(tag) or {} if tag else {}
        return _deep_merge(merged, entry.get(section) or {})

    def one_off(self, tag: str | None) -> dict[str, Any]:
        return self._section(tag, "one_off")

    def service(self, tag: str | None) -> dict[str, Any]:
        return self._section(tag, "service")

    def breaker(self, tag: str | None) -> dict[str, Any]:
        return self._section(tag, "circuit_breaker")

    def seconds(self, sandbox_seconds: float | None) -> float:
        """Wall-clock seconds for a duration in sandbox seconds."""
        return float(sandbox_seconds or 0) * self.time_scale


def failure_threshold(configured: int | None, desired: int) -> int:
    """ECS's circuit-breaker threshold: half the desired count (rounded up), at least 3, at most 200."""
    if configured:
        return int(configured)
    return min(200, max(3, math.ceil(desired / 2)))


def load_behaviour(
    source: str | Path | Mapping[str, Any] | Behaviour | None = None, time_scale: float | None = None
) -> Behaviour:
    """Shipped defaults, then ``source`` (a path or a dict), then ``time_scale``; validated."""
    if isinstance(source, Behaviour):
        layers: list[Mapping[str, Any]] = [source.data]
    else:
        layers = [read_file(SHIPPED)]
        if isinstance(source, (str, Path)):
            layers.append(read_file(source))
        elif isinstance(source, Mapping):
            layers.append(source)
        elif source is not None:
            raise BehaviourError(f"behaviour must be a path or a mapping, got {type(source).__name__}")
    if time_scale is not None:
        layers.append({"time_scale": time_scale})
    merged: dict[str, Any] = {}
    for layer in layers:
        validate(layer)
        _deep_merge(merged, layer)
    return Behaviour(merged)
