"""deployer: turn a git repository of per-cluster YAML into running JupyterHubs."""

__version__ = "0.2.0"
