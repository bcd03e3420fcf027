"""Parameters: declaration, validation, references and rendering."""

import pytest

from ublog_ops.errors import ExitStatus
from ublog_ops.runbook.params import Param, RunbookError, parse_params, references, render, resolve

PARAMS = parse_params(
    {
        "env": {"pattern": "[a-z][a-z0-9-]{0,30}", "help": "app env"},
        "tag": {"default": "v1.2.3"},
        "stack": {"choices": ["base", "app"], "default": "app"},
        "count": {"type": "int", "default": 2},
        "to": {"type": "list", "required": False},
        "force": {"type": "bool", "default": False},
        "token": {"secret": True, "required": False, "from_env": "MY_TOKEN"},
    },
    "t.md",
)


def test_defaults_and_given_values_are_typed():
    values = resolve(PARAMS, {"env": "alpha", "count": "5", "to": ["a:1", "b:2"], "force": "yes"}, environ={})
    assert values == {
        "env": "alpha",
        "tag": "v1.2.3",
        "stack": "app",
        "count": 5,
        "to": ["a:1", "b:2"],
        "force": True,
        "token": "",
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"env": "Alpha"}, "does not match"),
        ({"env": "alpha", "stack": "prod"}, "not one of base, app"),
        ({"env": "alpha", "count": "two"}, "not a whole number"),
        ({"env": "alpha", "force": "maybe"}, "not true/false"),
        ({"env": "alpha", "nope": "1"}, "unknown parameter"),
        ({}, "missing parameter(s): env"),
        ({"env": "alpha\nrm -rf /"}, "does not match"),
    ],
)
def test_bad_values_are_rejected_before_anything_runs(given, message):
    with pytest.raises(RunbookError) as exc:
        resolve(PARAMS, given, environ={})
    assert message in exc.value.message
    assert exc.value.status == ExitStatus.BAD_INPUT


def test_missing_hint_names_the_flag():
    with pytest.raises(RunbookError) as exc:
        resolve(PARAMS, {}, environ={})
    assert "--env VALUE" in exc.value.hint


def test_secret_from_env_and_never_shown_in_errors():
    values = resolve(PARAMS, {"env": "alpha"}, environ={"MY_TOKEN": "tok-123456"})
    assert values["token"] == "tok-123456"
    p = Param.from_spec("pw", {"secret": True, "pattern": "[0-9]+"}, "t.md")
    with pytest.raises(RunbookError) as exc:
        p.coerce("hunter2")
    assert "hunter2" not in exc.value.message


def test_references_validated():
    assert references("inv x --env {{ env }} {{to|flag --to}}", "w", PARAMS) == ["env", "to"]
    with pytest.raises(RunbookError, match="unknown parameter"):
        references("inv x --env {{ envv }}", "w", PARAMS)
    with pytest.raises(RunbookError, match="malformed reference"):
        references("inv x --env {{ env | upper }}", "w", PARAMS)
    with pytest.raises(RunbookError, match="bool parameter force"):
        references("inv x {{ force }}", "w", PARAMS)


def test_render_quotes_values_and_handles_optional_flags():
    values = {"env": "alpha", "to": ["a:1", "b 2"], "force": True, "tag": "", "count": 3}
    assert render("x --env {{ env }} {{ to | flag --to }} {{ force | flag --force }}", values) == (
        "x --env alpha --to a:1 --to 'b 2' --force"
    )
    # absent optional flags leave nothing behind (not even a double space)
    assert render("x {{ tag | flag --tag }} --n {{ count }}", values) == "x --n 3"
    assert render("x {{ force | flag --force }} y", {"force": False}) == "x y"
    assert render("echo {{ env }}", {"env": "a; rm -rf /"}) == "echo 'a; rm -rf /'"


def test_declaration_errors():
    with pytest.raises(RunbookError, match="unknown key"):
        parse_params({"env": {"defualt": "x"}}, "t.md")
    with pytest.raises(RunbookError, match="default of parameter env"):
        parse_params({"env": {"default": "X", "pattern": "[a-z]+"}}, "t.md")
    with pytest.raises(RunbookError, match="has type"):
        parse_params({"env": {"type": "float"}}, "t.md")
