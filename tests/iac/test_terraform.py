"""Terraform (iac/terraform): formatting, references, the contract facts and the rules that matter, offline.

``terraform validate`` needs the hashicorp/aws and hashicorp/random providers; it runs when a provider mirror
is given (``UBLOG_TF_PROVIDER_MIRROR``, made with ``terraform providers mirror``) and is skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.iac import diff_facts
from tests.iac.facts_terraform import TERRAFORM, extract_app, extract_base, instances, live_root
from tests.iac.tf_hcl import (
    Encoded,
    Module,
    ModuleSource,
    Ref,
    blocks_of,
    load_tfvars,
    parse_expr,
    raw_to_ast,
    references,
    unquote,
)
from ublog_ops.iac_contract import BASE_OUTPUTS, app_facts, base_facts, listener_priority
from ublog_ops.naming import Names

ROOTS = ("bootstrap", "live/base", "live/app")
MODULE_DIRS = (*ROOTS, "modules/base", "modules/app")
TF_ENV = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1"}

# Base-stack resource types that AWS cannot tag; every other base resource must carry env=<base>.
UNTAGGABLE = {
    "aws_route_table_association",
    "aws_secretsmanager_secret_version",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_server_side_encryption_configuration",
}


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


# --- the contract ------------------------------------------------------------------------------------------
def test_base_stack_facts_equal_the_contract():
    got, want = extract_base("dev", "ublog"), base_facts("dev", "ublog")
    assert got == want, "Terraform base stack differs from ublog_ops.iac_contract:\n" + diff_facts(
        {"terraform": got, "contract": want}
    )


def test_app_stack_facts_equal_the_contract():
    got, want = extract_app("alpha", "dev", "example.com", "ublog"), app_facts("alpha", "dev", "example.com", "ublog")
    assert got == want, "Terraform app stack differs from ublog_ops.iac_contract:\n" + diff_facts(
        {"terraform": got, "contract": want}
    )


def test_facts_follow_the_inputs_not_a_copy_of_the_contract():
    """-var overrides change what is extracted, the way they change what Terraform creates."""
    other = extract_app("alpha", "dev", "example.org", "acme")
    assert other == app_facts("alpha", "dev", "example.org", "acme")
    assert other != app_facts("alpha", "dev", "example.com", "ublog")
    assert extract_base("dev", "acme") == base_facts("dev", "acme")


# --- the rule that matters most: a re-apply never changes what is running ---------------------------------
def _app(**overrides) -> Module:
    return live_root("app", "alpha", **overrides).child("app")


def test_services_ignore_task_definition_and_desired_count_changes():
    services = instances(_app(), "aws_ecs_service")
    assert sorted(s.key for s in services) == ["beat", "default", "gunicorn", "web-ui"]
    for svc in services:
        (lifecycle,) = svc.blocks("lifecycle")
        assert {"task_definition", "desired_count"} <= set(lifecycle.get("ignore_changes")), svc.key
        assert svc.get("desired_count") == 0, svc.key
        assert not svc.get("force_new_deployment", False), f"{svc.key}: force_new_deployment restarts tasks on apply"
        (breaker,) = svc.blocks("deployment_circuit_breaker")
        assert breaker.get("enable") is True and breaker.get("rollback") is True, svc.key


def test_task_definitions_start_on_latest_and_keep_old_revisions():
    for td in instances(_app(), "aws_ecs_task_definition"):
        (container,) = td.get("container_definitions").value
        assert container["image"].parts[-1] == ":latest", td.key
        assert td.get("skip_destroy") is True, f"{td.key}: a re-apply must not deregister a revision a service runs"
        assert not td.get("track_latest", False), f"{td.key}: track_latest would fight the App Update pipeline"
    for file in (TERRAFORM / "live" / "app" / "envs").glob("*.tfvars"):
        assert load_tfvars(file).get("image_tag", "latest") == "latest", f"{file.name} pins an image tag"


def test_backend_containers_get_the_db_password_as_an_ecs_secret_from_the_base_secret():
    app = _app()
    td = next(t for t in instances(app, "aws_ecs_task_definition") if t.key == "gunicorn")
    (container,) = td.get("container_definitions").value
    (secret,) = container["secrets"]
    arn, key = secret["valueFrom"].parts  # "<secret arn>:password::" (the secret is JSON)
    source = td.follow(arn)
    assert (source.type, secret["name"], key) == ("aws_secretsmanager_secret", "POSTGRES_PASSWORD", ":password::")
    assert source.get("name") == Ref(
        "data", "terraform_remote_state", "base", None, ("outputs", "rds_password_secret_name")
    )
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["POSTGRES_NAME"] == "alpha-db"
    assert env["FRONTEND_URL"] == "https://alpha.example.com"
    assert "POSTGRES_PASSWORD" not in env


def test_listener_priority_of_every_app_env_is_the_contracts_and_envs_do_not_collide():
    taken: dict[int, str] = {}
    for file in sorted((TERRAFORM / "live" / "app" / "envs").glob("*.tfvars")):
        values = load_tfvars(file)
        env = values["env"]
        assert values["listener_priority"] == listener_priority(env), (
            f"{file.name}: listener_priority must be ublog_ops.iac_contract.listener_priority({env!r}) = "
            f"{listener_priority(env)}"
        )
        for priority in (values["listener_priority"], values["listener_priority"] + 1):
            assert priority not in taken, f"{env} and {taken.get(priority)} share listener priority {priority}"
            taken[priority] = env
    rules = {r.key: r.get("priority") for r in instances(_app(), "aws_lb_listener_rule")}
    assert rules == {"gunicorn": listener_priority("alpha"), "web-ui": listener_priority("alpha", 1)}


def test_autoscaling_is_off_by_default_and_covers_gunicorn_and_default_when_on():
    assert instances(_app(), "aws_appautoscaling_target") == []
    on = instances(_app(autoscaling_enabled=True), "aws_appautoscaling_target")
    assert sorted(t.key for t in on) == ["default", "gunicorn"]
    policies = instances(_app(autoscaling_enabled=True), "aws_appautoscaling_policy")
    assert sorted(p.key for p in policies) == ["default", "gunicorn"]


def test_execution_and_task_roles_have_no_wildcard_actions():
    app = _app()
    for doc in instances(app, "aws_iam_policy_document", kind="data"):
        for statement in doc.blocks("statement"):
            actions = statement.get("actions")
            assert all(a != "*" and not a.endswith(":*") for a in actions), (doc.name, actions)
            if statement.get("resources", None) == ["*"]:
                assert actions == ["ecr:GetAuthorizationToken"], f"{doc.name}: only ECR auth may use Resource *"


# --- base ----------------------------------------------------------------------------------------------------
def test_every_taggable_base_resource_carries_env_even_if_tags_try_to_override_it():
    base = live_root("base", "dev", tags={"env": "other", "team": "web"}).child("base")
    checked = 0
    for typ, name in sorted(base.source.resources):
        for inst in base.instances("resource", typ, name).values():
            if typ in UNTAGGABLE:
                assert not inst.has("tags"), f"{typ} is listed as untaggable but has tags"
                continue
            tags = inst.get("tags", None)
            assert isinstance(tags, dict), f"{typ}.{name}[{inst.key}] has no tags"
            assert tags["env"] == "dev" and tags["team"] == "web", f"{typ}.{name}[{inst.key}]: {tags}"
            checked += 1
    assert checked >= 25  # not vacuous: the base stack has ~28 taggable resources


def test_private_subnets_are_findable_by_env_tag_and_private_name():
    names = Names(env="dev", base_env="dev")
    pattern = names.private_subnet_pattern.strip("*")
    base = live_root("base", "dev").child("base")
    private = [s for s in instances(base, "aws_subnet") if pattern in s.get("tags")["Name"]]
    assert [s.name for s in private] == ["private", "private"]
    assert all(s.get("tags")["env"] == names.base_tag["env"] for s in private)


def test_base_outputs_are_the_contracts_and_never_the_password():
    for directory in ("live/base", "modules/base"):
        src = ModuleSource.load(TERRAFORM / directory)
        assert set(src.outputs) == set(BASE_OUTPUTS), directory
        for name, body in src.outputs.items():
            refs = references(raw_to_ast(body["value"]))
            bad = [f"{r}.{s[0][1]}" for r, s in refs if r in ("data", "aws_secretsmanager_secret_version")]
            assert not bad, f"{directory} output {name} exposes {bad}"
    base = live_root("base", "dev").child("base")
    generated = Ref("data", "aws_secretsmanager_random_password", "db", None, ("random_password",))
    (db,) = instances(base, "aws_db_instance")
    assert db.get("password") == generated
    (version,) = instances(base, "aws_secretsmanager_secret_version")
    assert version.follow(version.get("secret_id")).get("name") == Names(env="dev", base_env="dev").rds_secret
    secret = version.get("secret_string").value
    assert secret["password"] == generated
    assert secret["username"] == db.get("username")
    # The data source draws a new password on every plan: both must keep the first one.
    for inst, attr in ((db, "password"), (version, "secret_string")):
        (lifecycle,) = inst.blocks("lifecycle")
        assert attr in lifecycle.get("ignore_changes"), f"{inst.type} would get a new password on every apply"
    src = ModuleSource.load(TERRAFORM / "modules" / "base")
    assert "sensitive(" in src.locals["db_password"], "the generated password must be marked sensitive"


def test_workspace_guards_reject_a_plan_in_the_wrong_workspace():
    for stack, env, data in (("base", "dev", "aws_caller_identity"), ("app", "alpha", "terraform_remote_state")):
        src = ModuleSource.load(TERRAFORM / "live" / stack)
        values = load_tfvars(TERRAFORM / "live" / stack / "envs" / f"{env}.tfvars")
        for workspace, expected in ((env, True), ("default", False)):
            module = Module(src, values, workspace=workspace)
            (inst,) = instances(module, data, kind="data")
            (lifecycle,) = inst.blocks("lifecycle")
            (pre,) = lifecycle.blocks("precondition")
            assert pre.get("condition") is expected, (stack, workspace)


# --- how base links to app ---------------------------------------------------------------------------------
def test_app_reads_the_base_state_of_workspace_base_env_with_the_outputs_the_module_needs():
    root = live_root("app", "alpha")
    (remote,) = instances(root, "terraform_remote_state", kind="data")
    assert remote.get("backend") == "s3"
    assert remote.get("workspace") == "dev"
    config = remote.get("config")
    assert (config["key"], config["workspace_key_prefix"]) == ("base.tfstate", "base")
    assert config["bucket"] == Names(env="alpha", base_env="dev").state_bucket
    assert config["region"] == "eu-west-1"
    assert root.child("app").vars["base"] == Ref("data", "terraform_remote_state", "base", None, ("outputs",))
    base_type = parse_expr(ModuleSource.load(TERRAFORM / "modules" / "app").variables["base"]["type"][2:-1])
    assert base_type[0] == "call" and base_type[1] == "object"
    needed = {key[1] for key, _ in base_type[2][0][1]}
    assert needed == set(BASE_OUTPUTS)
    assert needed <= set(ModuleSource.load(TERRAFORM / "live" / "base").outputs)


def test_app_reads_the_base_state_where_inv_tf_init_puts_it():
    """`inv tf.init --stack base` (ublog_ops.iac.terraform) and live/app's terraform_remote_state agree on where
    the base state lives: s3://<bucket>/base/<base_env>/base.tfstate."""
    from ublog_ops.config import load_config
    from ublog_ops.iac.terraform import s3_backend_config

    backend = s3_backend_config(load_config(environ={"UBLOG_TF_STATE_REGION": "eu-west-1"}, dotenv_path=None), "base")
    (remote,) = instances(live_root("app", "alpha"), "terraform_remote_state", kind="data")
    config = remote.get("config")
    keys = ("bucket", "key", "workspace_key_prefix", "region")
    assert {k: config[k] for k in keys} == {k: backend[k] for k in keys}


# --- bootstrap -----------------------------------------------------------------------------------------------
def _bootstrap(**values) -> Module:
    return Module(ModuleSource.load(TERRAFORM / "bootstrap"), {"region": "eu-west-1", **values})


def test_bootstrap_state_bucket_lock_table_and_ecr_repositories_follow_the_naming_contract():
    names = Names(env="alpha", base_env="dev", prefix="ublog")
    boot = _bootstrap()
    (bucket,) = instances(boot, "aws_s3_bucket")
    assert bucket.get("bucket") == names.state_bucket
    (table,) = instances(boot, "aws_dynamodb_table")
    assert table.get("name") == names.deploy_lock_table
    assert table.get("hash_key") == "LockID"
    assert [(a.get("name"), a.get("type")) for a in table.blocks("attribute")] == [("LockID", "S")]
    repos = sorted(r.get("name") for r in instances(boot, "aws_ecr_repository"))
    assert repos == [names.ecr_repository("backend"), names.ecr_repository("frontend")]
    assert all(r.get("image_tag_mutability") == "MUTABLE" for r in instances(boot, "aws_ecr_repository"))


UBLOG_OPS_CALLS = {
    "sts:GetCallerIdentity",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecs:Describe*",
    "ecs:List*",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:RegisterTaskDefinition",
    "ecs:RunTask",
    "ecs:StopTask",
    "ecs:UpdateService",
    "ecs:TagResource",
    "iam:PassRole",
    "logs:DescribeLogStreams",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
}


def _deploy_statements(boot: Module) -> dict[str, dict]:
    doc = next(d for d in instances(boot, "aws_iam_policy_document", kind="data") if d.name == "deploy")
    out = {}
    for statement in doc.blocks("statement"):
        conditions = {c.get("variable"): (c.get("test"), c.get("values")) for c in statement.blocks("condition")}
        out[statement.get("sid")] = {
            "actions": statement.get("actions"),
            "resources": statement.get("resources"),
            "conditions": conditions,
            "effect": statement.get("effect", "Allow"),
        }
    return out


def test_deploy_role_allows_exactly_the_calls_ublog_ops_makes():
    statements = _deploy_statements(_bootstrap(github_repository="acme/ublog", app_envs=["alpha", "beta"]))
    assert {a for s in statements.values() for a in s["actions"]} == UBLOG_OPS_CALLS
    assert all(s["effect"] == "Allow" for s in statements.values())
    # ARNs are "arn:<partition>:...:<account>:<tail>": partition and account are only known to AWS.
    tails = {
        sid: [r.parts[-1] for r in s["resources"]]
        for sid, s in statements.items()
        if s["resources"] != ["*"] and sid not in ("Images", "DeployLock")
    }
    assert statements["Images"]["resources"] == [
        Ref("resource", "aws_ecr_repository", "this", "backend", ("arn",)),
        Ref("resource", "aws_ecr_repository", "this", "frontend", ("arn",)),
    ]
    pass_role = statements["PassEcsRoles"]
    assert tails["PassEcsRoles"] == [
        ":role/alpha-ecs-execution-role",
        ":role/alpha-ecs-task-role",
        ":role/beta-ecs-execution-role",
        ":role/beta-ecs-task-role",
    ]
    assert pass_role["conditions"] == {"iam:PassedToService": ("StringEquals", ["ecs-tasks.amazonaws.com"])}
    # Changing actions are scoped to the app envs' clusters/services/tasks, tagging only on create.
    assert tails["UpdateServices"] == [":service/alpha-cluster/alpha-*", ":service/beta-cluster/beta-*"]
    assert tails["StopTasks"] == [":task/alpha-cluster/*", ":task/beta-cluster/*"]
    assert tails["RunOneOffTasks"] == [":task-definition/alpha-*:*", ":task-definition/beta-*:*"]
    assert [r.parts[-1] for r in statements["RunOneOffTasks"]["conditions"]["ecs:cluster"][1]] == [
        ":cluster/alpha-cluster",
        ":cluster/beta-cluster",
    ]
    assert tails["Logs"] == [
        ":log-group:/ecs/alpha/*",
        ":log-group:/ecs/beta/*",
        ":log-group:/ecs/alpha/*:log-stream:*",
        ":log-group:/ecs/beta/*:log-stream:*",
    ]
    assert statements["TagOnCreate"]["conditions"] == {
        "ecs:CreateAction": ("StringEquals", ["RegisterTaskDefinition", "RunTask"])
    }
    (lock,) = statements["DeployLock"]["resources"]
    assert lock == Ref("resource", "aws_dynamodb_table", "locks", None, ("arn",))
    star = sorted(sid for sid, s in statements.items() if s["resources"] == ["*"])
    assert star == ["EcsRead", "Identity", "TagOnCreate", "TaskDefinitions"]


def test_deploy_role_trusts_only_the_configured_github_repository():
    boot = _bootstrap(github_repository="acme/ublog", github_subjects=["environment:alpha"])
    trust = next(d for d in instances(boot, "aws_iam_policy_document", kind="data") if d.name == "deploy_trust")
    (statement,) = trust.blocks("statement")
    assert statement.get("actions") == ["sts:AssumeRoleWithWebIdentity"]
    conditions = {c.get("variable"): c.get("values") for c in statement.blocks("condition")}
    assert conditions == {
        "token.actions.githubusercontent.com:aud": ["sts.amazonaws.com"],
        "token.actions.githubusercontent.com:sub": ["repo:acme/ublog:environment:alpha"],
    }
    assert len(instances(boot, "aws_iam_role")) == 1
    assert instances(_bootstrap(), "aws_iam_role") == [], "no repository configured: no deploy role"


def test_app_default_state_bucket_is_the_one_bootstrap_creates():
    (bucket,) = instances(_bootstrap(prefix="acme"), "aws_s3_bucket")
    root = live_root("app", "alpha", prefix="acme")
    (remote,) = instances(root, "terraform_remote_state", kind="data")
    assert remote.get("config")["bucket"] == bucket.get("bucket") == "acme-terraform-state"


def test_container_definitions_are_jsonencoded_single_containers():
    for td in instances(_app(), "aws_ecs_task_definition"):
        value = td.get("container_definitions")
        assert isinstance(value, Encoded) and len(value.value) == 1
        assert value.value[0]["name"] == td.key
