"""Parity: Terraform, CDK and Pulumi define the same base and app stacks.

Each tool's facts are extracted from what that tool produces (parsed HCL, the synthesized CloudFormation
template, the resources a Pulumi program registers under mocks) by ``tests.iac.facts_{terraform,cdk,pulumi}``;
a change made in one tool and not in the others fails here, with the facts that differ and where they are.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest

from tests.iac import diff_facts
from ublog_ops.iac_contract import app_facts, base_facts

TOOLS = ("terraform", "cdk", "pulumi")
BASE_ARGS: dict[str, Any] = {"base_env": "dev", "prefix": "ublog"}
APP_ARGS: dict[str, Any] = {"env": "alpha", "base_env": "dev", "domain": "example.com", "prefix": "ublog"}


def extractor(tool: str) -> ModuleType:
    """``tests.iac.facts_<tool>``; skipped only while that module does not exist yet (a missing dependency of an
    existing module is an error: CI installs the iac extra)."""
    name = f"tests.iac.facts_{tool}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        # TODO(lead): remove this skip once tests/iac/facts_cdk.py and facts_pulumi.py are merged.
        pytest.skip(f"{name} does not exist yet (built by the {tool} helper); parity needs all three tools")


@pytest.fixture(scope="module")
def extractors() -> dict[str, ModuleType]:
    return {tool: extractor(tool) for tool in TOOLS}


def _assert_same(sides: dict[str, set], contract: set, what: str) -> None:
    first, *others = sides.values()
    if all(other == first for other in others):
        return
    report = diff_facts({**sides, "contract": contract})
    counts = ", ".join(f"{tool} {len(facts)}" for tool, facts in sides.items())
    pytest.fail(f"{what}: the tools disagree ({counts} facts; contract {len(contract)}):\n{report}", pytrace=False)


def test_base_stack_is_the_same_in_terraform_cdk_and_pulumi(extractors):
    sides = {tool: module.extract_base(**BASE_ARGS) for tool, module in extractors.items()}
    assert all(sides.values()), {tool: len(facts) for tool, facts in sides.items()}
    _assert_same(sides, base_facts(**BASE_ARGS), "base stack dev")


def test_app_stack_is_the_same_in_terraform_cdk_and_pulumi(extractors):
    sides = {tool: module.extract_app(**APP_ARGS) for tool, module in extractors.items()}
    assert all(sides.values()), {tool: len(facts) for tool, facts in sides.items()}
    _assert_same(sides, app_facts(**APP_ARGS), "app stack alpha on dev")
