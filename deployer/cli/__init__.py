"""The command line: thin typer commands over the core.

Commands are registered explicitly here, one module per command group.
"""

from __future__ import annotations

import os
import sys

from deployer.cli.app import app, run_app
from deployer.cli import config_cmd, deploy_cmd, init_cmd, validate_cmd
from deployer.cli import doctor_cmd, local_cmd, tools_cmd
from deployer.cli import credentials_cmd, generate_cmd, provision_cmd
from deployer.cli import canary_gate_cmd, plan_upgrade_cmd, render_cmd
from deployer.cli import diff_cmd, grafana_cmd, health_cmd, rollback_cmd, status_cmd
from deployer.cli import preview_cmd, usage_cmd

init_cmd.register(app)
validate_cmd.register(app)
config_cmd.register(app)
deploy_cmd.register(app)
doctor_cmd.register(app)
tools_cmd.register(app)
local_cmd.register(app)
provision_cmd.register(app)
credentials_cmd.register(app)
generate_cmd.register(app)
plan_upgrade_cmd.register(app)
canary_gate_cmd.register(app)
health_cmd.register(app)
status_cmd.register(app)
diff_cmd.register(app)
rollback_cmd.register(app)
grafana_cmd.register(app)
render_cmd.register(app)
preview_cmd.register(app)
usage_cmd.register(app)


def main() -> None:
    code = run_app(app)
    from deployer import stopping

    if stopping.current().stopping:
        # stopped by a signal: children are stopped and secret folders removed (run_app); do not wait
        # for a worker thread still blocked on a request to a server that does not answer
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
