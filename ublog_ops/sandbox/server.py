"""The sandbox: moto's server in this process on 127.0.0.1, seeded like μblog's IaC output, with the ECS model.

moto keeps its state in process-wide dicts, so one process runs at most one sandbox at a time (a second
``start()`` raises); ``reset()`` wipes every moto backend of this process and seeds again.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..naming import Names
from .behaviour import Behaviour, load_behaviour

DEFAULT_REGION = "eu-west-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: Variables that would send boto3 elsewhere or change its credentials; the sandbox's env unsets them.
UNSET_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")

_running: list[Sandbox] = []


class SandboxError(RuntimeError):
    """The sandbox could not start, or is used wrongly."""


class Sandbox:
    """A local AWS for μblog. ``with Sandbox() as sb: os.environ.update(sb.env_vars())``.

    ``behaviour``: None (shipped defaults), a path (JSON/YAML) or a dict layered on the shipped defaults;
    ``time_scale`` overrides the behaviour's. ``port=0`` binds a free port (see ``.endpoint``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        base_env: str = "dev",
        app_env: str = "alpha",
        behaviour: str | Path | Mapping[str, Any] | Behaviour | None = None,
        time_scale: float | None = None,
        region: str = DEFAULT_REGION,
        prefix: str = "ublog",
        name_overrides: Mapping[str, str] | None = None,
        domain: str = "example.com",
        tick_interval: float = 0.1,
    ) -> None:
        self.host = host
        self.port = port
        self.region = region
        self.domain = domain
        self.names = Names(env=app_env, base_env=base_env, prefix=prefix, overrides=dict(name_overrides or {}))
        self.behaviour = load_behaviour(behaviour, time_scale)
        self.tick_interval = tick_interval
        self.seeded: Any = None
        self._infra: dict[str, Any] | None = None
        self.model: Any = None
        self._server: Any = None
        self._ticker: threading.Thread | None = None
        self._serving: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._session: Any = None
        self._clients: dict[tuple[str, str], Any] = {}

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        if _running:
            raise SandboxError(f"a sandbox already runs in this process at {_running[0].endpoint}")
        import logging

        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from . import backend

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        # Bind here (werkzeug would print and sys.exit on a busy port; moto's ThreadedMotoServer would hang).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise SandboxError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        backend.install()
        server = make_server(
            self.host,
            sock.getsockname()[1],
            DomainDispatcherApplication(create_backend_app),
            threaded=True,
            request_handler=MotoRequestHandler,
            fd=sock.fileno(),
        )
        sock.close()  # the server holds its own duplicate
        self._server = server
        self._serving = threading.Thread(target=server.serve_forever, name="sandbox-server", daemon=True)
        self._serving.start()
        self.port = server.server_address[1]
        _running.append(self)
        try:
            self.reset()
        except BaseException:
            self.stop()
            raise
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick, name="sandbox-ticker", daemon=True)
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._serving is not None:
                self._serving.join(timeout=5)
            self._server = None
        if self in _running:
            _running.remove(self)
            from moto.core.base_backend import BackendDict

            from . import backend

            BackendDict.reset()
            backend.uninstall()
        self.model = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_interval):
            model = self.model
            if model is None:
                continue
            try:
                model.advance()
            except Exception as exc:  # noqa: BLE001 - keep the sandbox alive; say what broke
                print(f"sandbox: model error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    # --- state -------------------------------------------------------------------------------------------------
    def reset(self, full: bool = True) -> None:
        """Wipe every moto backend of this process and seed again (with the current behaviour).

        ``full=False`` keeps the base network, database, bucket and IAM roles (moto's EC2, RDS, S3 and IAM, which
        deploy code only reads) from the last full reset and wipes everything else — about twice as fast."""
        if self._server is None:
            raise SandboxError("the sandbox is not running: call start() first")
        from moto.core.base_backend import BackendDict
        from moto.ecs.models import ecs_backends

        from .model import EcsModel
        from .seed import ACCOUNT, INFRA_SERVICES, seed_app, seed_base_data, seed_base_infra

        old = self.model
        with self._lock, old.lock if old is not None else contextlib.nullcontext():  # not mid-tick
            self.model = None
            keep = not full and self._infra is not None and self._infra_intact()
            if keep:
                for backends in list(BackendDict._instances):
                    if backends.service_name not in INFRA_SERVICES:
                        for account in backends.values():
                            account.reset()
                        backends.clear()
            else:
                BackendDict.reset()
            ecs = ecs_backends[ACCOUNT][self.region]
            model = EcsModel(ecs, self.names, self.behaviour)
            ecs.sb_model = model
            model.seeding = True
            try:
                if not keep:
                    self._infra = None
                    self._infra = seed_base_infra(self.client, self.names, self.region)
                base = {**self._infra, **seed_base_data(self.client, self.names)}
                self.seeded = seed_app(self.client, self.names, self.region, self.behaviour, base, self.domain)
            finally:
                model.seeding = False
            self.model = model

    def _infra_intact(self) -> bool:
        """Is the base network of the last full reset still there (moto's ``mock_aws`` in this process wipes it)?"""
        from moto.ec2.models import ec2_backends

        from .seed import ACCOUNT

        ec2 = ec2_backends[ACCOUNT][self.region]
        infra = self._infra or {}
        subnets = {sid for zone in ec2.subnets.values() for sid in zone}
        return infra.get("vpc_id") in ec2.vpcs and set(infra.get("private_subnets", ())) <= subnets

    def set_behaviour(
        self, behaviour: str | Path | Mapping[str, Any] | Behaviour | None, time_scale: float | None = None
    ) -> None:
        """Use another behaviour (layered on the shipped defaults) for everything that starts from now on.
        Tags it adds are pushed to ECR only by the next ``reset()``."""
        self.behaviour = load_behaviour(behaviour, time_scale)
        if self.model is not None:
            with self.model.lock:
                self.model.behaviour = self.behaviour

    # --- access ------------------------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise SandboxError("the sandbox is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def account(self) -> str:
        from .seed import ACCOUNT

        return ACCOUNT

    def env_vars(self) -> dict[str, str]:
        """What boto3 (and any AWS SDK/CLI) needs to reach the sandbox. Also unset :data:`UNSET_VARS`."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client(self, service: str) -> Any:
        """A plain boto3 client for the sandbox (independent of the process environment; cached)."""
        key = (service, self.endpoint)
        if key not in self._clients:
            import boto3

            if self._session is None:
                self._session = boto3.session.Session(
                    aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    region_name=self.region,
                )
            self._clients[key] = self._session.client(service, endpoint_url=self.endpoint)
        return self._clients[key]

    def image(self, kind: str, tag: str) -> str:
        """Full image URI in the sandbox's ECR, e.g. ``image("backend", "v1.2.3")``."""
        return self.names.image(kind, tag, self.account, self.region)
