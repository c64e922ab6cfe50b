"""deployer: turn a git repository of per-cluster YAML into running JupyterHubs."""

__version__ = "0.2.0"
# the name the package is built and installed under (PyPI's `deployer` is an unrelated project);
# the command stays `deployer`
DISTRIBUTION = "jupyterhub-fleet-deployer"
