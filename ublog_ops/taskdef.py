"""Task definitions: find the latest revision of an exact family, render a retagged copy, diff, register.

* :func:`latest_definition` — the latest ACTIVE revision of exactly one family. ECS's DescribeTaskDefinition with a
  bare family name already means "latest ACTIVE of that family" (no prefix matching, unlike ``ListTaskDefinitions
  familyPrefix``, which is how shell scripts pick a sibling such as ``alpha-gunicorn-canary``); the answer is checked
  (family equal, status ACTIVE) and, should an endpoint hand back an INACTIVE revision, the newest ACTIVE revision of
  that exact family is looked up instead.
* :func:`render` — RegisterTaskDefinition arguments made from a described revision: exactly the fields that
  RegisterTaskDefinition accepts are kept (taken from botocore's model of the API, so read-only fields —
  ``taskDefinitionArn``, ``revision``, ``status``, ``requiresAttributes``, ``compatibilities``, ``registeredAt``,
  ``registeredBy``, ``deregisteredAt``, ``deleteRequestedAt`` … — are dropped and every writable one, known today or
  added later, is kept), plus the revision's tags. Only the ``image`` of containers that run one of the given ECR
  repositories changes; sidecars and every other field (environment, secrets, roles, runtimePlatform, volumes,
  ephemeralStorage, tags …) stay byte for byte.
* :func:`diff` — per-field change lines; environment values and secret ``valueFrom`` are masked unless asked.
* :func:`register` — registers rendered arguments. Nothing here ever deregisters a revision: rollback needs them.

Image references: the release image is rendered as ``{registry}/{repository}:{tag}`` (see
:func:`ublog_ops.preflight.ImageRef.uri`), not ``@sha256:…``. Humans (and ``app.status``) read the tag; ECS itself
resolves the tag to a digest once per deployment (software version consistency), and the release plan records the
digest DescribeImages returned, so ``app.apply`` refuses when the tag has been moved to another image since the plan
was made (:func:`ublog_ops.plan.check_drift`).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .aws import client_error_code
from .errors import ConfigError, RefusedError
from .naming import repository_name

#: Fields of a described task definition that RegisterTaskDefinition does not accept (documentation; the
#: authoritative filter is botocore's model, see :func:`register_fields`).
READ_ONLY_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
)
#: Shown instead of an environment value or a secret reference.
MASK = "<masked>"
#: Container fields whose entries hold values that are masked: field -> (entry key, value key).
MASKED_LISTS = {"environment": ("name", "value"), "secrets": ("name", "valueFrom")}


@functools.cache
def register_fields() -> frozenset[str]:
    """The parameters RegisterTaskDefinition accepts, from botocore's service model (no network, cached)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ecs")
    return frozenset(model.operation_model("RegisterTaskDefinition").input_shape.members)


def _arn_family(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def latest_definition(ecs: Any, family: str) -> dict[str, Any]:
    """The latest ACTIVE revision of exactly ``family``: ``{"taskDefinition": {...}, "tags": [...]}``.

    Raises RefusedError when the family has no ACTIVE revision.
    """
    if not family or ":" in family or "/" in family:
        raise ConfigError(f"invalid task-definition family {family!r}", hint="give a family name without revision")
    try:
        out = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    except Exception as exc:
        if client_error_code(exc) in ("ClientException", "InvalidParameterException"):
            raise RefusedError(
                f"task-definition family {family} not found", hint="deploy the app stack (inv tf.apply --stack app)"
            ) from None
        raise
    td = out["taskDefinition"]
    if td.get("family") != family:
        raise RefusedError(f"ECS answered family {td.get('family')!r} when asked for {family!r}")
    if td.get("status", "ACTIVE") == "ACTIVE":
        return {"taskDefinition": td, "tags": list(out.get("tags") or [])}
    # The latest revision is INACTIVE (some endpoints answer with it): the newest ACTIVE one of this exact family.
    paginator = ecs.get_paginator("list_task_definitions")
    for page in paginator.paginate(familyPrefix=family, status="ACTIVE", sort="DESC"):
        for arn in page.get("taskDefinitionArns", []):
            if _arn_family(arn) == family:  # familyPrefix is a prefix: skip siblings such as {family}-canary
                out = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
                return {"taskDefinition": out["taskDefinition"], "tags": list(out.get("tags") or [])}
    raise RefusedError(f"task-definition family {family} has no ACTIVE revision", hint="register one with the IaC")


def _definition(described: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Any]]:
    if "taskDefinition" in described:
        return described["taskDefinition"], list(described.get("tags") or [])
    return described, list(described.get("tags") or [])


def image_containers(described: Mapping[str, Any], repository: str) -> list[str]:
    """Names of the containers (of a described revision or rendered kwargs) whose image is in ``repository``."""
    td, _ = _definition(described)
    return [c["name"] for c in td.get("containerDefinitions", []) if repository_name(c.get("image", "")) == repository]


def render(described: Mapping[str, Any], images: Mapping[str, str]) -> dict[str, Any]:
    """RegisterTaskDefinition kwargs from a described revision, with new images.

    ``images`` maps an ECR repository name (``ublog-backend``) to the new image URI; a container changes only when its
    current image is in one of those repositories. ``render(described, {})`` gives the revision's own kwargs (the
    "before" side of :func:`diff`).
    """
    td, tags = _definition(described)
    allowed = register_fields()
    kwargs = {k: copy.deepcopy(v) for k, v in td.items() if k in allowed and v is not None and k != "tags"}
    if tags:
        kwargs["tags"] = copy.deepcopy(tags)
    for container in kwargs.get("containerDefinitions", []):
        new = images.get(repository_name(container.get("image", "")))
        if new is not None:
            container["image"] = new
    return kwargs


def register(ecs: Any, kwargs: Mapping[str, Any]) -> str:
    """Register rendered kwargs; returns the new revision's ARN. Refuses kwargs whose values were masked."""
    masked = [path for path, value in _masked_leaves(kwargs) if value == MASK]
    if masked:
        raise ConfigError(
            f"task definition {kwargs.get('family')} still has masked values ({', '.join(masked[:3])})",
            hint="a saved plan holds no values; apply restores them from the live revision in its drift check",
        )
    return ecs.register_task_definition(**kwargs)["taskDefinition"]["taskDefinitionArn"]


# --- masking ------------------------------------------------------------------------------------------------------


def _masked_leaves(kwargs: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """(path, value) of every environment value and secret reference (a masked list or entry yields MASK)."""
    for c in kwargs.get("containerDefinitions", []):
        for field, (key, value_key) in MASKED_LISTS.items():
            entries = c.get(field) or []
            if not isinstance(entries, list):
                yield f"{c.get('name')}.{field}", entries
                continue
            for entry in entries:
                if isinstance(entry, Mapping):
                    yield f"{c.get('name')}.{field}[{entry.get(key)}]", entry.get(value_key)
                else:
                    yield f"{c.get('name')}.{field}[?]", entry


def mask_values(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of rendered kwargs with every environment value and secret reference replaced by :data:`MASK`."""
    out = copy.deepcopy(dict(kwargs))
    for c in out.get("containerDefinitions", []):
        _mask_container(c)
    return out


def _mask_container(container: dict[str, Any]) -> None:
    for field, (_, value_key) in MASKED_LISTS.items():
        entries = container.get(field) or []
        if not isinstance(entries, list):
            container[field] = MASK
            continue
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                entries[i] = MASK
            elif value_key in entry:
                entry[value_key] = MASK


def unmask(masked: Mapping[str, Any], full: Mapping[str, Any]) -> dict[str, Any] | None:
    """``full`` if it equals ``masked`` once masked (so it carries exactly the masked plan's intent), else None."""
    return copy.deepcopy(dict(full)) if mask_values(full) == mask_values(masked) else None


# --- diff ---------------------------------------------------------------------------------------------------------


def _unique_by(items: list[Any], field: str) -> bool:
    if not all(isinstance(i, Mapping) and i.get(field) is not None for i in items):
        return False
    return len({str(i[field]) for i in items}) == len(items)


def _key_field(old: list[Any], new: list[Any]) -> str | None:
    """The field that names the entries of two lists of dicts (``name``, ``key`` …), unique within each list."""
    for field in ("name", "key", "containerPath", "sourceVolume"):
        if _unique_by(old, field) and _unique_by(new, field):
            return field
    return None


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _masked_repr(value: Any, field: str | None, show_values: bool) -> Any:
    """``value`` (an added, removed or replaced part) with the env/secret values inside it masked."""
    if show_values:
        return value
    value = copy.deepcopy(value)
    if field in MASKED_LISTS:
        value_key = MASKED_LISTS[field][1]
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            if isinstance(entry, dict) and value_key in entry:
                entry[value_key] = MASK
            elif not isinstance(entry, dict):
                return MASK  # an unexpected shape: show nothing of it
    elif isinstance(value, dict) and "containerDefinitions" in value:
        value = mask_values(value)
    elif isinstance(value, dict):
        _mask_container(value)
    elif isinstance(value, list) and field == "containerDefinitions":
        for container in value:
            if isinstance(container, dict):
                _mask_container(container)
    return value


def _walk(old: Any, new: Any, path: str, field: str | None, show: bool, out: list[str]) -> None:
    """Append change lines for ``old`` -> ``new`` at ``path``; ``field`` is the name of the field holding them."""
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        if field in MASKED_LISTS and not show:  # one environment/secrets entry: never print its value
            value_key = MASKED_LISTS[field][1]
            for key in [*old, *(k for k in new if k not in old)]:
                if old.get(key) != new.get(key):
                    shown = MASK if key == value_key else None
                    a = shown or _show(old[key]) if key in old else None
                    b = shown or _show(new[key]) if key in new else None
                    if a is None:
                        out.append(f"+ {path}.{key}: {b}")
                    elif b is None:
                        out.append(f"- {path}.{key}: {a}")
                    else:
                        out.append(f"~ {path}.{key}: {a} -> {b}" + (" (changed)" if shown else ""))
            return
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append(f"- {sub}: {_show(_masked_repr(old[key], key, show))}")
            elif key not in old:
                out.append(f"+ {sub}: {_show(_masked_repr(new[key], key, show))}")
            else:
                _walk(old[key], new[key], sub, key, show, out)
        return
    if isinstance(old, list) and isinstance(new, list):
        entry_field = field if field in MASKED_LISTS else None
        key_field = _key_field(old, new)
        if key_field:
            olds = {str(i[key_field]): i for i in old}
            news = {str(i[key_field]): i for i in new}
            for name in [*olds, *(n for n in news if n not in olds)]:
                sub = f"{path}[{name}]"
                if name not in news:
                    out.append(f"- {sub}: {_show(_masked_repr(olds[name], entry_field or field, show))}")
                elif name not in olds:
                    out.append(f"+ {sub}: {_show(_masked_repr(news[name], entry_field or field, show))}")
                else:
                    _walk(olds[name], news[name], sub, entry_field, show, out)
            if [n for n in olds if n in news] != [n for n in news if n in olds]:
                out.append(f"~ {path}: order changed")
            return
        if len(old) == len(new):
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                _walk(a, b, f"{path}[{i}]", entry_field, show, out)
            return
    out.append(f"~ {path}: {_show(_masked_repr(old, field, show))} -> {_show(_masked_repr(new, field, show))}")


def diff(old_kwargs: Mapping[str, Any], new_kwargs: Mapping[str, Any], show_values: bool = False) -> list[str]:
    """Per-field change lines between two rendered definitions (``~`` changed, ``+`` added, ``-`` removed).

    Paths name list entries by their name (``containerDefinitions[gunicorn].environment[DEBUG]``). Environment values
    and secret ``valueFrom`` are shown as :data:`MASK` unless ``show_values``; names are always shown.
    """
    out: list[str] = []
    _walk(dict(old_kwargs), dict(new_kwargs), "", None, show_values, out)
    return out
