import re
from pathlib import Path

import pytest

from ublog_ops.config import DEFAULTS, ENV_VARS, load_config
from ublog_ops.errors import ConfigError, ExitStatus

ROOT = Path(__file__).resolve().parents[1]


def test_precedence_defaults_invoke_dotenv_env_flags(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("UBLOG_BASE_ENV=fromdotenv\nUBLOG_ECR_PREFIX=dotprefix\nUBLOG_ENV=dotenv\n")
    invoke_tree = {"base_env": "frominvoke", "ecr_prefix": "invprefix", "rollout": {"timeout": 99}}
    cfg = load_config(invoke_tree, {}, environ={}, dotenv_path=dotenv)
    assert cfg.base_env == "fromdotenv"  # .env beats invoke.yaml
    assert cfg.get("rollout.timeout") == 99  # invoke.yaml beats defaults
    assert cfg.get("rollout.stall_timeout") == DEFAULTS["rollout"]["stall_timeout"]  # nested defaults kept
    cfg = load_config(invoke_tree, {}, environ={"UBLOG_ECR_PREFIX": "envprefix"}, dotenv_path=dotenv)
    assert cfg.get("ecr_prefix") == "envprefix"  # real environment beats .env
    cfg = load_config(invoke_tree, {"env": "flagenv", "ecr_prefix": None}, environ={}, dotenv_path=dotenv)
    assert cfg.env == "flagenv"  # flags beat everything; None flags are "not given"
    assert cfg.get("ecr_prefix") == "dotprefix"


def test_defaults_are_not_mutated():
    load_config({"names": {"cluster": "x"}}, {"desired_counts.gunicorn": 3}, environ={}, dotenv_path=None)
    assert DEFAULTS["names"] == {}
    assert DEFAULTS["desired_counts"]["gunicorn"] == 1


def test_env_validated_before_use():
    with pytest.raises(ConfigError) as err:
        _ = load_config({}, {"env": "Bad_Env"}, environ={}, dotenv_path=None).env
    assert err.value.status == ExitStatus.BAD_INPUT
    with pytest.raises(ConfigError, match="no app env"):
        _ = load_config({}, {}, environ={}, dotenv_path=None).env


def test_typed_env_vars_and_bad_values():
    cfg = load_config(
        {}, {}, environ={"UBLOG_DESIRED_COUNT_WEB_UI": "3", "UBLOG_POLL_INTERVAL": "0.5"}, dotenv_path=None
    )
    assert cfg.desired_count("web-ui") == 3
    assert cfg.get("rollout.poll_interval") == 0.5
    with pytest.raises(ConfigError, match="UBLOG_LOCK_TTL"):
        load_config({}, {}, environ={"UBLOG_LOCK_TTL": "soon"}, dotenv_path=None)


def test_env_example_lists_every_variable():
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^# (UBLOG_[A-Z_]+)=", text, re.M))
    assert listed == set(ENV_VARS)
