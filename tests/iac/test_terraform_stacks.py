"""Terraform stacks (iac/terraform) against the contract and the rules that matter, read offline from the HCL.

Facts come from tests/iac/facts_terraform.py (python-hcl2 + tests/iac/tf_hcl.py); nothing here needs a provider.
"""

from __future__ import annotations

from tests.iac import diff_facts
from tests.iac.facts_terraform import TERRAFORM, extract_app, extract_base, instances, live_root
from tests.iac.tf_hcl import Encoded, Module, ModuleSource, Ref, load_tfvars, parse_expr, raw_to_ast, references
from ublog_ops.iac_contract import BASE_OUTPUTS, app_facts, base_facts, listener_priority
from ublog_ops.naming import Names

# Base-stack resource types that AWS cannot tag; every other base resource must carry env=<base>.
UNTAGGABLE = {
    "aws_route_table_association",
    "aws_secretsmanager_secret_version",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_server_side_encryption_configuration",
}


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
