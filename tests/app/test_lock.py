"""Deploy lock: conditional writes against DynamoDB (moto), in the seeded state-lock table."""

from __future__ import annotations

import time
import uuid

import pytest

from ublog_ops.errors import RefusedError
from ublog_ops.lock import DeployLock, default_owner


@pytest.fixture
def ddb(sandbox_server):
    """The sandbox's state-lock table (seeded like the bootstrap's). No reset needed: each test gets its own env."""
    from ublog_ops.config import load_config

    table = load_config(flags={"env": "alpha"}, environ={}, dotenv_path=None).lock_table
    return sandbox_server.client("dynamodb"), table


@pytest.fixture
def env():
    return f"lk{uuid.uuid4().hex[:10]}"


def _item(client, table, env_or_key):
    key = env_or_key if "/" in env_or_key else f"ublog-ops/deploy/{env_or_key}"
    return client.get_item(TableName=table, Key={"LockID": {"S": key}}, ConsistentRead=True).get("Item")


def test_lock_table_is_the_bootstrap_state_lock_table():
    from ublog_ops.config import load_config

    def make_cfg(**flags):
        return load_config(flags={"env": "alpha", **flags}, environ={}, dotenv_path=None)

    assert make_cfg().lock_table == "ublog-terraform-locks"
    assert make_cfg(**{"lock.table": "my-locks"}).lock_table == "my-locks"


def test_acquire_records_owner_time_and_expiry_and_second_deploy_is_refused(ddb, env):
    client, table = ddb
    first = DeployLock(client, table, env, owner="ann@laptop", ttl=600)
    first.acquire()
    item = _item(client, table, env)
    assert item["Owner"]["S"] == "ann@laptop"
    assert item["Since"]["S"].startswith(time.strftime("%Y-", time.gmtime()))
    assert 590 <= int(item["Expires"]["N"]) - time.time() <= 600

    second = DeployLock(client, table, env, owner="bob@ci")
    with pytest.raises(RefusedError) as exc:
        second.acquire()
    assert "ann@laptop" in exc.value.message and "since" in exc.value.message and "expires" in exc.value.message
    assert f"inv app.unlock --env {env}" in exc.value.hint
    assert _item(client, table, env)["Owner"]["S"] == "ann@laptop"  # the refused attempt changed nothing

    # another env is independent
    DeployLock(client, table, env + "-b", owner="bob@ci").acquire()

    assert first.release() is True
    assert _item(client, table, env) is None
    second.acquire()
    assert second.holder()["owner"] == "bob@ci"


def test_release_never_deletes_someone_elses_lock(ddb, env):
    client, table = ddb
    DeployLock(client, table, env, owner="ann").acquire()
    stranger = DeployLock(client, table, env, owner="bob")
    assert stranger.release() is False  # never acquired
    assert _item(client, table, env)["Owner"]["S"] == "ann"


def test_expired_lock_is_taken_over_and_the_old_owner_cannot_release_it(ddb, env):
    client, table = ddb
    dead = DeployLock(client, table, env, owner="crashed-runner", ttl=60, clock=lambda: time.time() - 3600)
    dead.acquire()
    holder = DeployLock(client, table, env).holder()
    assert holder["owner"] == "crashed-runner" and holder["expired"] is True

    fresh = DeployLock(client, table, env, owner="bob", ttl=600)
    fresh.acquire()
    assert _item(client, table, env)["Owner"]["S"] == "bob"
    assert dead.release() is False  # its token is gone: bob's lock stays
    assert dead.refresh() is False
    assert _item(client, table, env)["Owner"]["S"] == "bob"


def test_refresh_extends_our_lock(ddb, env):
    client, table = ddb
    now = [time.time()]
    lock = DeployLock(client, table, env, owner="ann", ttl=100, clock=lambda: now[0])
    lock.acquire()
    before = int(_item(client, table, env)["Expires"]["N"])
    now[0] += 50
    assert lock.refresh() is True
    assert int(_item(client, table, env)["Expires"]["N"]) == before + 50


def test_force_unlock_removes_any_holder_and_reports_it(ddb, env):
    client, table = ddb
    DeployLock(client, table, env, owner="gone@host").acquire()
    removed = DeployLock(client, table, env, owner="admin").force_unlock()
    assert removed["owner"] == "gone@host"
    assert _item(client, table, env) is None
    assert DeployLock(client, table, env).force_unlock() is None


def test_context_manager_releases_on_error(ddb, env):
    client, table = ddb
    with pytest.raises(RuntimeError), DeployLock(client, table, env, owner="ann"):
        assert _item(client, table, env)["Owner"]["S"] == "ann"
        raise RuntimeError("boom")
    assert _item(client, table, env) is None


def test_terraform_locks_in_the_same_table_are_left_alone(ddb, env):
    client, table = ddb
    tf_key = f"ublog-terraform-state/app/{env}.tfstate"
    client.put_item(TableName=table, Item={"LockID": {"S": tf_key}, "Info": {"S": "{}"}})
    lock = DeployLock(client, table, env, owner="ann")
    lock.acquire()
    lock.force_unlock()
    assert _item(client, table, tf_key) is not None


def test_missing_table_is_a_refusal_with_a_hint(ddb, env):
    client, _ = ddb
    with pytest.raises(RefusedError, match="no-such-table not found") as exc:
        DeployLock(client, "no-such-table", env).acquire()
    assert "UBLOG_LOCK_TABLE" in exc.value.hint


def test_default_owner_names_the_github_run_or_the_user():
    gh = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "42", "GITHUB_REPOSITORY": "o/ublog", "GITHUB_ACTOR": "ann"}
    assert default_owner(gh) == "github:o/ublog run 42 by ann"
    assert "@" in default_owner({}) and "pid" in default_owner({})
