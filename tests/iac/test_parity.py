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
    """``tests.iac.facts_<tool>``: every tool must provide one (no skip: CI installs the iac extra)."""
    return importlib.import_module(f"tests.iac.facts_{tool}")


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
