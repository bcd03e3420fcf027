"""Terraform (iac/terraform) through the terraform binary and static checks: fmt, validate, `terraform test`,
references, module wiring, tfvars. The stacks' facts and rules: tests/iac/test_terraform_stacks.py.

``terraform validate`` and ``terraform test`` need the hashicorp/aws provider's schema: they run when a provider
mirror is available (``UBLOG_TF_PROVIDER_MIRROR``, made with ``terraform providers mirror``, else /opt/tf-plugins)
or ``UBLOG_TF_VALIDATE_ONLINE=1``, and are skipped with that reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.iac.facts_terraform import TERRAFORM
from tests.iac.tf_hcl import (
    ModuleSource,
    blocks_of,
    load_tfvars,
    raw_to_ast,
    references,
    unquote,
)

ROOTS = ("bootstrap", "live/base", "live/app")
MODULE_DIRS = (*ROOTS, "modules/base", "modules/app")
TF_ENV = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1"}


def terraform() -> str:
    path = shutil.which("terraform")
    if not path:
        pytest.skip("terraform is not on PATH (CI installs terraform 1.11)")
    return path


def run_tf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [terraform(), *args], check=False, capture_output=True, text=True, env=env or TF_ENV, timeout=600
    )


# --- formatting and validation -------------------------------------------------------------------------------
def test_terraform_fmt_check_passes():
    result = run_tf("fmt", "-check", "-recursive", "-diff", str(TERRAFORM))
    assert result.returncode == 0, (
        f"terraform fmt -check failed (run `terraform fmt -recursive iac/terraform`):\n{result.stdout}"
    )


def test_terraform_fmt_check_catches_misformatted_hcl(tmp_path):
    """The fmt check really looks at our files: a copy with broken alignment fails it."""
    shutil.copytree(TERRAFORM / "modules" / "app", tmp_path / "app")
    ecs = tmp_path / "app" / "ecs.tf"
    ecs.write_text(ecs.read_text().replace("  desired_count                      = 0", "  desired_count = 0"))
    result = run_tf("fmt", "-check", "-recursive", str(tmp_path))
    assert result.returncode != 0
    assert "ecs.tf" in result.stdout


# --- real terraform validate / terraform test (need the providers' schemas) ------------------------------------
#: Where provider mirrors are looked for when UBLOG_TF_PROVIDER_MIRROR is not set (some images ship one here).
DEFAULT_MIRRORS = ("/opt/tf-plugins",)


def provider_mirror() -> str | None:
    """A filesystem mirror of providers (layout of `terraform providers mirror`, packed or unpacked)."""
    configured = os.environ.get("UBLOG_TF_PROVIDER_MIRROR")
    if configured:
        return configured
    return next((d for d in DEFAULT_MIRRORS if (Path(d) / "registry.terraform.io").is_dir()), None)


def required_providers(directory: Path) -> set[str]:
    """``namespace/name`` of every provider a root module and the modules it calls require."""
    src = ModuleSource.load(directory)
    found = set()
    for block in src.terraform:
        for req in block.get("required_providers", []):
            found |= {unquote(spec["source"]) for name, spec in req.items() if not name.startswith("__")}
    for body in src.modules.values():
        found |= required_providers((directory / unquote(body["source"])).resolve())
    return found


@pytest.fixture(scope="module")
def tf_init(tmp_path_factory):
    """Copy iac/terraform once and ``terraform init -backend=false`` a root on demand (memoized); skips, saying
    why, when the providers cannot be installed."""
    mirror = provider_mirror()
    online = os.environ.get("UBLOG_TF_VALIDATE_ONLINE") == "1"
    base = tmp_path_factory.mktemp("tf")
    work = base / "terraform"
    shutil.copytree(TERRAFORM, work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl"))
    env = dict(TF_ENV)
    if mirror and not online:
        config = base / "terraformrc"
        config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/*/*"]\n  }}\n'
            '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n'
            "}\n"
        )
        env["TF_CLI_CONFIG_FILE"] = str(config)
    done: dict[str, Path] = {}

    def init(root: str) -> tuple[Path, dict[str, str]]:
        terraform()
        if not (mirror or online):
            pytest.skip(
                "needs the hashicorp/aws provider, which cannot be downloaded here (no Terraform registry): set "
                "UBLOG_TF_PROVIDER_MIRROR=<dir made by `terraform providers mirror`>, or UBLOG_TF_VALIDATE_ONLINE=1 "
                "where the registry is reachable"
            )
        if mirror and not online:
            missing = sorted(
                p
                for p in required_providers(TERRAFORM / root)
                if not (Path(mirror) / "registry.terraform.io" / p).is_dir()
            )
            if missing:
                pytest.skip(f"provider mirror {mirror} lacks {', '.join(missing)} (needed by {root})")
        if root not in done:
            result = run_tf(f"-chdir={work / root}", "init", "-backend=false", "-input=false", "-no-color", env=env)
            assert result.returncode == 0, f"terraform init failed in {root}:\n{result.stdout}\n{result.stderr}"
            done[root] = work / root
        return done[root], env

    return init


@pytest.mark.parametrize("root", ROOTS)
def test_terraform_validate(root, tf_init):
    workdir, env = tf_init(root)
    result = run_tf(f"-chdir={workdir}", "validate", "-no-color", env=env)
    assert result.returncode == 0, f"terraform validate failed in {root}:\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("root", ["modules/app", "modules/base", "live/app"])
def test_terraform_test_with_mocked_aws(root, tf_init):
    """`terraform test` (tests/*.tftest.hcl, mocked AWS): modules/app creates the stack, re-applies it with a
    changed task definition and checks every service still runs what it ran; modules/base re-applies and keeps
    the DB password; live/app refuses the wrong workspace."""
    workdir, env = tf_init(root)
    result = run_tf(f"-chdir={workdir}", "test", "-no-color", env=env)
    assert result.returncode == 0, f"terraform test failed in {root}:\n{result.stdout}\n{result.stderr}"
    assert "0 failed" in result.stdout and " passed" in result.stdout


def test_terraform_test_catches_a_service_that_follows_new_revisions(tf_init, tmp_path):
    """Control: without ignore_changes the re-apply moves the service to the new revision, and the test says so."""
    workdir, env = tf_init("modules/app")
    copy = tmp_path / "app"
    shutil.copytree(workdir, copy, symlinks=True)
    ecs = copy / "ecs.tf"
    ecs.write_text(ecs.read_text().replace("ignore_changes = [task_definition, desired_count]", "ignore_changes = []"))
    result = run_tf(f"-chdir={copy}", "test", "-no-color", env=env)
    assert result.returncode != 0
    assert "re-deploying the app stack changed the task definition a service runs" in result.stdout + result.stderr


# --- references: an offline stand-in for the parts of validate that need no provider ----------------------
def _expressions(body: dict, where: str, skip: frozenset[str] = frozenset(), bound: frozenset[str] = frozenset()):
    """(where, attribute, ast, bound names) of every expression in a block body, nested and dynamic blocks too."""
    for key, value in body.items():
        if key.startswith("__") or key in skip:
            continue
        if key == "dynamic":
            for dyn in value:
                for label, spec in dyn.items():
                    if label.startswith("__"):
                        continue
                    iterator = spec["iterator"][2:-1] if "iterator" in spec else unquote(label)
                    yield f"{where}.dynamic.{unquote(label)}", "for_each", raw_to_ast(spec["for_each"]), bound
                    for content in blocks_of(spec, "content"):
                        yield from _expressions(content, f"{where}.{unquote(label)}", bound=bound | {iterator})
        elif isinstance(value, list) and value and all(isinstance(v, dict) and v.get("__is_block__") for v in value):
            for block in value:
                nested_skip = frozenset({"ignore_changes"}) if key == "lifecycle" else frozenset()
                yield from _expressions(block, f"{where}.{key}", nested_skip, bound)
        else:
            yield where, key, raw_to_ast(value), bound


def _all_expressions(src: ModuleSource):
    for name, body in src.variables.items():
        yield from _expressions(body, f"variable.{name}", skip=frozenset({"type"}))
    for name, value in src.locals.items():
        yield "locals", name, raw_to_ast(value), frozenset()
    for (typ, name), body in src.resources.items():
        yield from _expressions(body, f"{typ}.{name}")
    for (typ, name), body in src.data.items():
        yield from _expressions(body, f"data.{typ}.{name}")
    for name, body in src.outputs.items():
        yield from _expressions(body, f"output.{name}")
    for name, body in src.modules.items():
        yield from _expressions(body, f"module.{name}")
    for name, body in src.providers.items():
        yield from _expressions(body, f"provider.{name}")


def _dangling(src: ModuleSource) -> list[str]:
    problems = []
    for where, attr, ast, bound in _all_expressions(src):
        for root, steps in references(ast, bound):
            first = steps[0][1] if steps and steps[0][0] == "attr" else None
            second = steps[1][1] if len(steps) > 1 and steps[1][0] == "attr" else None
            ok = {
                "var": lambda f=first: f in src.variables,
                "local": lambda f=first: f in src.locals,
                "data": lambda f=first, s=second: (f, s) in src.data,
                "module": lambda f=first: f in src.modules,
                "each": lambda: True,
                "count": lambda f=first: f == "index",
                "path": lambda f=first: f in ("module", "root", "cwd"),
                "terraform": lambda f=first: f == "workspace",
                "self": lambda: True,
            }.get(root, lambda r=root, f=first: (r, f) in src.resources)()
            if not ok:
                label = src.path.relative_to(TERRAFORM) if src.path.is_relative_to(TERRAFORM) else src.path.name
                problems.append(f"{label}: {where}.{attr} refers to {root}.{first}")
    return problems


@pytest.mark.parametrize("directory", MODULE_DIRS)
def test_every_reference_points_at_a_declared_block(directory):
    """Every var./local./data./module./resource reference resolves (what validate would reject first)."""
    src = ModuleSource.load(TERRAFORM / directory)
    assert _dangling(src) == []


def test_reference_check_catches_a_typo(tmp_path):
    shutil.copytree(TERRAFORM / "modules" / "app", tmp_path / "app")
    alb = tmp_path / "app" / "alb.tf"
    alb.write_text(
        alb.read_text().replace("= aws_lb_target_group.this[each.key].arn", "= aws_lb_target_group.thsi[each.key].arn")
    )
    assert _dangling(ModuleSource.load(tmp_path / "app")) == [
        "app: aws_lb_listener_rule.this.action.target_group_arn refers to aws_lb_target_group.thsi"
    ]


# Terraform 1.11's built-in functions (a typo in a function name is the other thing validate catches first).
TF_FUNCTIONS = set(
    """abs abspath alltrue anytrue base64decode base64encode base64gzip base64sha256 base64sha512 basename bcrypt can
    ceil chomp chunklist cidrhost cidrnetmask cidrsubnet cidrsubnets coalesce coalescelist compact concat contains
    csvdecode dirname distinct element endswith ephemeralasnull file filebase64 filebase64sha256 filebase64sha512
    fileexists filemd5 fileset filesha1 filesha256 filesha512 flatten floor format formatdate formatlist indent index
    issensitive join jsondecode jsonencode keys length log lookup lower matchkeys max md5 merge min nonsensitive one
    parseint pathexpand plantimestamp pow range regex regexall replace reverse rsadecrypt sensitive setintersection
    setproduct setsubtract setunion sha1 sha256 sha512 signum slice sort split startswith strcontains strrev substr
    sum templatefile templatestring textdecodebase64 textencodebase64 timeadd timecmp timestamp title tobool tolist
    tomap tonumber toset tostring transpose trim trimprefix trimspace trimsuffix try upper urlencode uuid uuidv5
    values yamldecode yamlencode zipmap""".split()
)


def _calls(node):
    if isinstance(node, tuple):
        if node and node[0] == "call":
            yield node[1]
        for item in node:
            yield from _calls(item)
    elif isinstance(node, list):
        for item in node:
            yield from _calls(item)


@pytest.mark.parametrize("directory", MODULE_DIRS)
def test_only_terraform_builtin_functions_are_called(directory):
    src = ModuleSource.load(TERRAFORM / directory)
    called = {name for _, _, ast, _ in _all_expressions(src) for name in _calls(ast)}
    assert called <= TF_FUNCTIONS, f"unknown functions {sorted(called - TF_FUNCTIONS)}"


@pytest.mark.parametrize(("root", "child"), [("live/base", "base"), ("live/app", "app")])
def test_module_calls_match_the_module_variables_and_outputs(root, child):
    src = ModuleSource.load(TERRAFORM / root)
    body = src.modules[child]
    mod = ModuleSource.load((TERRAFORM / root / unquote(body["source"])).resolve())
    passed = {k for k in body if not k.startswith("__") and k not in ("source", "version", "providers", "depends_on")}
    assert passed <= set(mod.variables), f"{root} passes undeclared variables {sorted(passed - set(mod.variables))}"
    required = {name for name, var in mod.variables.items() if "default" not in var}
    assert required <= passed, f"{root} does not pass required variables {sorted(required - passed)}"
    used = {
        steps[0][1]
        for _, _, ast, bound in _all_expressions(src)
        for r, steps in references(ast, bound)
        if r == "module" and len(steps) > 1 and steps[0][1] == child
    }
    outputs = {
        steps[1][1]
        for _, _, ast, bound in _all_expressions(src)
        for r, steps in references(ast, bound)
        if r == "module" and len(steps) > 1 and steps[0] == ("attr", child)
    }
    assert used == {child}
    assert outputs <= set(mod.outputs), (
        f"{root} reads module outputs {sorted(outputs - set(mod.outputs))} that do not exist"
    )


@pytest.mark.parametrize("stack", ["base", "app"])
def test_every_env_tfvars_sets_declared_variables_only_and_all_required_ones(stack):
    live = TERRAFORM / "live" / stack
    src = ModuleSource.load(live)
    required = {name for name, var in src.variables.items() if "default" not in var}
    files = sorted((live / "envs").glob("*.tfvars"))
    assert files, f"no envs/*.tfvars in live/{stack}"
    for file in files:
        values = load_tfvars(file)
        assert set(values) <= set(src.variables), f"{file.name}: undeclared {sorted(set(values) - set(src.variables))}"
        assert required <= set(values), f"{file.name}: missing {sorted(required - set(values))}"
        env = values["base_env" if stack == "base" else "env"]
        assert file.stem == env, f"{file.name} configures env {env}: the file name must be the env (= workspace)"


def test_both_live_roots_use_a_partial_s3_backend_and_bootstrap_a_local_one():
    for stack in ("base", "app"):
        (tf,) = ModuleSource.load(TERRAFORM / "live" / stack).terraform
        (backend,) = tf["backend"]
        assert list(k for k in backend if not k.startswith("__")) == ['"s3"']
        assert {k for k in backend['"s3"'] if not k.startswith("__")} == set(), "backend config is supplied at init"
    (tf,) = ModuleSource.load(TERRAFORM / "bootstrap").terraform
    assert "backend" not in tf
