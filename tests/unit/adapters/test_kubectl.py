"""The API server's dry run gets the rendered objects as JSON: a string that reads as a number in
YAML (a checksum annotation such as 1e23) stays a string (deployer.adapters.kubectl)."""

from __future__ import annotations

import json
from pathlib import Path

from deployer.adapters.kubectl import server_dry_run
from deployer.adapters.process import Completed
from deployer.config.yamlload import load_yaml
from deployer.redact import Redactor


class Runner:
    def __init__(self) -> None:
        self.inputs: list[str] = []
        self.redactor = Redactor()

    def run(self, args, *, timeout, env=None, input=None):
        if "apply" in args:
            self.inputs.append(input)
            return Completed(tuple(args), 0, "deployment.apps/hub\n", "", 0.0)
        return Completed(tuple(args), 0, "namespace/hub\n", "", 0.0)


def test_number_like_strings_reach_kubectl_as_strings():
    runner = Runner()
    hub = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hub", "namespace": "hub"},
           "spec": {"template": {"metadata": {"annotations": {"checksum/auth-token": "1e23", "on": "yes"}}}}}
    result = server_dry_run(runner, Path("kubectl"), None, None, [hub], "hub")  # type: ignore[arg-type]
    assert (result.checked, result.problems) == (1, [])
    [sent] = runner.inputs
    items = json.loads(sent)["items"]
    assert items[0]["spec"]["template"]["metadata"]["annotations"] == {"checksum/auth-token": "1e23", "on": "yes"}
    # what kubectl's YAML 1.2 reader makes of it (JSON is YAML 1.2): still strings
    assert load_yaml(sent).data["items"][0]["spec"]["template"]["metadata"]["annotations"]["checksum/auth-token"] == "1e23"
