"""The sandbox: an embedded local AWS (moto's server on 127.0.0.1) seeded like μblog's IaC output, with an ECS
behaviour model moto lacks (task lifecycles with exit codes and logs, service deployments, circuit breaker and
rollback), chosen per image tag from a behaviour file. Deploy code reaches it only through ``AWS_ENDPOINT_URL``
and the standard credential variables — there is no sandbox special case anywhere else.

Interface (stable; other code and tests depend on it)::

    from ublog_ops.sandbox import Sandbox, load_behaviour, DEMO_TAGS

    sb = Sandbox(host="127.0.0.1", port=0, base_env="dev", app_env="alpha",
                 behaviour=None | "path.yaml" | {...}, time_scale=None, region="eu-west-1")
    sb.start()            # listen (port 0 = a free port), seed; also `with Sandbox() as sb:`
    sb.endpoint           # "http://127.0.0.1:PORT"
    sb.env_vars()         # AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID=testing, AWS_SECRET_ACCESS_KEY=testing,
                          # AWS_DEFAULT_REGION, AWS_REGION (also unset UNSET_VARS, e.g. AWS_PROFILE)
    sb.client("ecs")      # a plain boto3 client for the sandbox
    sb.names              # ublog_ops.naming.Names of the seeded env
    sb.image("backend", "v1.2.3")   # image URI in the sandbox's ECR
    sb.seeded             # ids: vpc_id, private_subnets, ecs_security_group, rds_address, secret_arn,
                          # task_definitions {name: arn}, images {kind: {tag: digest}}
    sb.set_behaviour(dict_or_path, time_scale=None)   # for tasks/deployments started from now on
    sb.reset()            # wipe and seed again (pushes the tags of the current behaviour)
    sb.reset(full=False)  # the same, but keeps EC2/RDS/S3/IAM (base network, DB, bucket, roles): ~3x faster
    sb.stop()

One sandbox per process (moto's state is process-wide). Background server:
``python -m ublog_ops.sandbox serve --port 5055 [--behaviour FILE] [--time-scale X] [--env alpha] [--base-env dev]``
(what ``inv sandbox.up`` runs). Pytest fixtures (tests/conftest.py): ``sandbox_server`` (session),
``sandbox`` (function: ``reset(full=False)`` + AWS_* env vars set via monkeypatch), ``sandbox_behaviour`` and
``sandbox_time_scale`` (override in a module, or ``@pytest.mark.parametrize(..., indirect=True)``; applied before
the reset). Tests run at time scale 0.02 (``tests.conftest.TEST_TIME_SCALE``).

Behaviour tags shipped (see behaviour.yaml and the README): v1.2.2 (start), v1.2.3, v1.2.4 (healthy),
v1.3.0-migrate-fails, v1.3.0-pull-error, v1.3.0-crashloop, v1.3.0-slow, v1.3.0-stall, v1.3.0-sidecar-fails.
"""

from .behaviour import DEMO_TAGS, Behaviour, BehaviourError, load_behaviour
from .server import UNSET_VARS, Sandbox, SandboxError

__all__ = ["DEMO_TAGS", "UNSET_VARS", "Behaviour", "BehaviourError", "Sandbox", "SandboxError", "load_behaviour"]
