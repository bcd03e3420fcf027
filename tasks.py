"""Root Invoke namespace of ublog-ops. `inv --list` shows every task; `inv --help TASK` its flags.

Config defaults are declared here with Collection.configure so invoke.yaml (key `ublog`) and INVOKE_UBLOG_*
variables override them (see ublog_ops/config.py for the whole precedence).
"""

from invoke import Collection

from ublog_ops.config import DEFAULTS
from ublog_ops.tasks import app, demo, iac_cdk, iac_pulumi, iac_terraform, runbook, sandbox

ns = Collection()
ns.add_collection(Collection.from_module(sandbox), name="sandbox")
ns.add_collection(Collection.from_module(app), name="app")
ns.add_collection(Collection.from_module(iac_terraform), name="tf")
ns.add_collection(Collection.from_module(iac_pulumi), name="pulumi")
ns.add_collection(Collection.from_module(iac_cdk), name="cdk")
ns.add_collection(Collection.from_module(runbook), name="runbook")
for _t in Collection.from_module(demo).tasks.values():
    ns.add_task(_t)
ns.configure({"ublog": DEFAULTS})
