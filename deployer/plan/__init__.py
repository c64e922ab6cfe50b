"""Pure planning: which clusters and hubs to deploy, in which order. No adapters, no I/O beyond reading config."""
