"""Runbook files: front matter, steps with attributes, prose kept in order."""

import pytest

from ublog_ops.runbook.params import RunbookError
from ublog_ops.runbook.parser import Step, find_runbook, parse_runbook

BOOK = """---
title: T
summary: s
params:
  env: {default: alpha}
---

# T

Prose with a `{{ literal }}` is never rendered.

```bash {name=look mutates=false}
inv app.status --env {{ env }}
```

An example of output (not a step):

```text
everything COMPLETED
```

~~~~sh {name=change expect=4 timeout=30}
inv app.update --env {{ env }}
```inner fence text is part of the command```
~~~~

```bash
inv app.plan --env {{ env }}
```

```bash {name=gone confirm=env}
inv tf.destroy --env {{ env }} --yes
```
"""


def test_steps_attributes_and_parts():
    book = parse_runbook(BOOK, "runbooks/t.md")
    assert book.name == "t"
    assert [s.name for s in book.steps] == ["look", "change", "step-3", "gone"]
    look, change, third, gone = book.steps
    assert (look.mutates, look.expect, look.timeout) == (False, 0, None)
    assert (change.mutates, change.expect, change.timeout, change.lang) == (True, 4, 30.0, "sh")
    assert "inner fence" in change.command
    assert third.mutates is True  # default: assume the step changes something
    assert gone.confirm == "env"
    assert look.line == 12  # line of the opening fence in the file
    steps = [p for p in book.parts if isinstance(p, Step)]
    assert steps == list(book.steps)
    prose = "".join(p for p in book.parts if isinstance(p, str))
    assert "everything COMPLETED" in prose and "Prose with" in prose


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no front matter\n", "no front matter"),
        ("---\ntitle: T\n", "not closed"),
        ("---\nsummary: x\n---\n```bash\ninv a\n```\n", "no title"),
        ("---\ntitle: T\nparam: {}\n---\n", "unknown front-matter key"),
        ("---\ntitle: T\n---\nprose only\n", "no steps"),
        ("---\ntitle: T\n---\n```bash {name=a mutate=false}\ninv a\n```\n", "unknown step attribute 'mutate'"),
        ("---\ntitle: T\n---\n```bash {name=a}\ninv a\n```\n```bash {name=a}\ninv b\n```\n", "used twice"),
        ("---\ntitle: T\n---\n```bash {name=a}\ninv a --env {{ env }}\n```\n", "unknown parameter {{ env }}"),
        ("---\ntitle: T\n---\n```bash {name=a expect=x}\ninv a\n```\n", "expect must be an integer"),
        ("---\ntitle: T\n---\n```bash {name=a mutates=maybe}\ninv a\n```\n", "not true/false"),
        ("---\ntitle: T\n---\n```bash {name=a}\ninv a\n", "never closed"),
        ("---\ntitle: T\n---\n```bash {name=a confirm=env}\ninv a\n```\n", "confirm=env is not a parameter"),
        ("---\ntitle: T\n---\n```bash {name=a}\n\n```\n", "is empty"),
    ],
)
def test_bad_runbooks_are_refused_with_file_and_reason(text, message):
    with pytest.raises(RunbookError) as exc:
        parse_runbook(text, "runbooks/bad.md")
    assert message in exc.value.message
    assert "runbooks/bad.md" in exc.value.message


def test_find_runbook_by_name(tmp_path):
    (tmp_path / "README.md").write_text("index")
    (tmp_path / "a.md").write_text("---\ntitle: A\n---\n```bash\ninv a\n```\n")
    assert find_runbook(tmp_path, "a").title == "A"
    assert find_runbook(tmp_path, "a.md").title == "A"
    with pytest.raises(RunbookError) as exc:
        find_runbook(tmp_path, "README")
    assert "runbooks: a" in exc.value.hint


def test_step_number_out_of_range():
    book = parse_runbook(BOOK, "t.md")
    with pytest.raises(RunbookError, match=r"has steps 1\.\.4, not 5"):
        book.step(5)
