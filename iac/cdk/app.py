#!/usr/bin/env python3
"""CDK entry point (``cdk.json`` runs ``python3 app.py``).

npx cdk synth -c stack=base -c env=dev      # the dev-base stack
npx cdk synth -c stack=app -c env=alpha     # the alpha-app stack (its base env comes from config/alpha.json)
npx cdk synth                               # every env in config/
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The repository root, so `import ublog_ops` (the naming contract) works without installing the package.
for path in (str(HERE.parent.parent), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

import aws_cdk as cdk  # noqa: E402
from ublog_cdk import ConfigError, build  # noqa: E402


def main() -> int:
    app = cdk.App()
    env = app.node.try_get_context("env")
    stack = app.node.try_get_context("stack")
    try:
        build([env] if env else None, app=app, stack=stack)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
