"""Runbook files: YAML front matter (title, summary, parameters) + markdown prose + fenced steps.

A step is every fenced code block whose language is ``bash``, ``sh`` or ``shell``; attributes follow the language
in braces, e.g. ````` ```bash {name=plan mutates=false expect=0} `````. Blocks in other languages (``text``,
``console``, ``json`` …) are illustrations, never run. Attributes:

- ``name`` — unique within the runbook (default ``step-N``), shown in prompts and the record;
- ``mutates`` — ``true`` (default: assume the worst) makes the runner ask before running it; ``false`` runs it
  without asking;
- ``expect`` — the exit code that means "as planned" (default 0), e.g. ``expect=4`` for a drill of a failing
  migration;
- ``timeout`` — seconds after which the step is stopped (default: none);
- ``confirm`` — a parameter name: instead of ``r`` the operator must type that parameter's value (e.g. the env
  name before a destroy). Implies ``mutates=true``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .params import Param, RunbookError, parse_params, references

STEP_LANGS = ("bash", "sh", "shell")
STEP_ATTRS = ("name", "mutates", "expect", "timeout", "confirm")
FRONT_KEYS = {"title", "summary", "params", "env_file", "when"}
FENCE_RE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
INFO_RE = re.compile(r"^(?P<lang>[\w+-]*)\s*(?:\{(?P<attrs>.*)\})?\s*$")
STEP_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,60}$")


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, in document order
    name: str
    command: str  # the block's text, with {{ references }}
    mutates: bool = True
    expect: int = 0
    timeout: float | None = None
    confirm: str | None = None  # parameter whose value must be typed to run the step
    lang: str = "bash"
    info: str = ""  # the original info string (kept in the record)
    line: int = 0  # line of the opening fence (1-based)

    @property
    def kind(self) -> str:
        return "changes something" if self.mutates else "read-only"


@dataclass(frozen=True)
class Runbook:
    name: str
    path: Path
    title: str
    summary: str
    params: Mapping[str, Param]
    steps: tuple[Step, ...]
    parts: tuple[str | Step, ...]  # the body in order: prose chunks (markdown) and steps
    env_file: str | None = None
    when: str = ""
    front: Mapping[str, Any] = field(default_factory=dict)

    def step(self, number: int) -> Step:
        if not 1 <= number <= len(self.steps):
            raise RunbookError(
                f"{self.name} has steps 1..{len(self.steps)}, not {number}",
                hint=f"see the numbers with: inv runbook.show {self.name}",
            )
        return self.steps[number - 1]


def _front_matter(text: str, where: str) -> tuple[dict[str, Any], str, int]:
    import yaml

    if not text.startswith("---\n"):
        raise RunbookError(f"{where}: no front matter", hint="start the file with a --- YAML block (title, params)")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise RunbookError(f"{where}: front matter is not closed", hint="end it with a line ---")
    try:
        front = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as exc:
        raise RunbookError(f"{where}: front matter is not valid YAML ({exc})") from None
    if not isinstance(front, dict):
        raise RunbookError(f"{where}: front matter must be a mapping")
    body = text[end + len("\n---\n") :]
    return front, body, text[: end + 5].count("\n") + 1


def _attrs(raw: str | None, where: str) -> dict[str, str]:
    if not raw:
        return {}
    try:
        words = shlex.split(raw)
    except ValueError as exc:
        raise RunbookError(f"{where}: bad attributes {{{raw}}} ({exc})") from None
    attrs: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        key = key.strip()
        if key not in STEP_ATTRS:
            raise RunbookError(f"{where}: unknown step attribute {key!r}", hint=f"attributes: {', '.join(STEP_ATTRS)}")
        attrs[key] = value if eq else "true"
    return attrs


def _bool(value: str, where: str) -> bool:
    if value.lower() in ("true", "yes", "1"):
        return True
    if value.lower() in ("false", "no", "0"):
        return False
    raise RunbookError(f"{where}: mutates={value!r} is not true/false")


def _make_step(number: int, lang: str, info: str, attrs: dict[str, str], command: str, where: str, line: int) -> Step:
    name = attrs.get("name", f"step-{number}")
    if not STEP_NAME_RE.match(name):
        raise RunbookError(f"{where}: bad step name {name!r}", hint="lower-case words joined by - _ or .")
    try:
        expect = int(attrs.get("expect", "0"))
        timeout = float(attrs["timeout"]) if "timeout" in attrs else None
    except ValueError:
        raise RunbookError(f"{where}: expect must be an integer and timeout a number of seconds") from None
    if not 0 <= expect <= 255:
        raise RunbookError(f"{where}: expect={expect} is not an exit code (0..255)")
    if not command.strip():
        raise RunbookError(f"{where}: step {name} is empty")
    confirm = attrs.get("confirm")
    mutates = _bool(attrs.get("mutates", "true"), where)
    if confirm and not mutates:
        raise RunbookError(f"{where}: step {name} has confirm= but mutates=false")
    return Step(
        number=number,
        name=name,
        command=command,
        confirm=confirm,
        mutates=mutates,
        expect=expect,
        timeout=timeout,
        lang=lang,
        info=info.strip(),
        line=line,
    )


def parse_runbook(text: str, path: Path | str, name: str | None = None) -> Runbook:
    """Parse one runbook; every problem is a RunbookError naming file and line."""
    path = Path(path)
    where = str(path)
    front, body, body_line = _front_matter(text, where)
    unknown = set(front) - FRONT_KEYS
    if unknown:
        raise RunbookError(
            f"{where}: unknown front-matter key(s) {', '.join(sorted(unknown))}",
            hint=f"keys: {', '.join(sorted(FRONT_KEYS))}",
        )
    if not front.get("title"):
        raise RunbookError(f"{where}: front matter has no title")
    params = parse_params(front.get("params"), where)
    env_file = front.get("env_file")
    if env_file is not None:
        references(str(env_file), f"{where}: env_file", params)

    parts: list[str | Step] = []
    steps: list[Step] = []
    prose: list[str] = []
    lines = body.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i].rstrip("\n"))
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        fence, info, start = m["fence"], m["info"], i
        close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j].rstrip("\n")):
            j += 1
        lineno = body_line + start
        if j >= len(lines):
            raise RunbookError(f"{where}:{lineno}: code block is never closed")
        info_m = INFO_RE.match(info.strip())
        lang = (info_m["lang"] if info_m else info.split()[0] if info.split() else "").lower()
        if lang in STEP_LANGS:
            if not info_m:
                raise RunbookError(f"{where}:{lineno}: cannot read the info string {info!r}")
            here = f"{where}:{lineno}"
            command = "".join(lines[i + 1 : j])
            step = _make_step(len(steps) + 1, lang, info, _attrs(info_m["attrs"], here), command, here, lineno)
            references(step.command, f"{here} (step {step.name})", params)
            if step.confirm and step.confirm not in params:
                raise RunbookError(f"{here}: confirm={step.confirm} is not a parameter")
            if any(s.name == step.name for s in steps):
                raise RunbookError(f"{here}: step name {step.name!r} is used twice")
            if prose:
                parts.append("".join(prose))
                prose = []
            parts.append(step)
            steps.append(step)
        else:
            prose.extend(lines[start : j + 1])
        i = j + 1
    if prose:
        parts.append("".join(prose))
    if not steps:
        raise RunbookError(f"{where}: no steps", hint="steps are ```bash {name=… mutates=…} blocks")
    return Runbook(
        name=name or path.stem,
        path=path,
        title=str(front["title"]),
        summary=str(front.get("summary") or ""),
        params=params,
        steps=tuple(steps),
        parts=tuple(parts),
        env_file=str(env_file) if env_file is not None else None,
        when=str(front.get("when") or ""),
        front=front,
    )


def load_runbook(path: Path) -> Runbook:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunbookError(f"cannot read {path}: {exc.strerror}") from None
    return parse_runbook(text, path)


def runbook_paths(directory: Path) -> list[Path]:
    """Runbooks in a directory: every ``*.md`` except README.md (the index)."""
    return sorted(p for p in directory.glob("*.md") if p.name.lower() != "readme.md")


def load_all(directory: Path) -> list[Runbook]:
    return [load_runbook(p) for p in runbook_paths(directory)]


def find_runbook(directory: Path, name: str) -> Runbook:
    """By name (file stem), also accepting ``name.md`` or a path."""
    candidate = Path(name)
    if candidate.suffix == ".md" and candidate.is_file():
        return load_runbook(candidate)
    path = directory / f"{candidate.stem if candidate.suffix == '.md' else name}.md"
    if not path.is_file() or path.name.lower() == "readme.md":
        known = ", ".join(p.stem for p in runbook_paths(directory)) or "none"
        raise RunbookError(f"no runbook {name!r} in {directory}", hint=f"runbooks: {known}")
    return load_runbook(path)
