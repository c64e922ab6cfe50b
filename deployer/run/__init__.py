"""The engine that runs plans: stages, concurrency, timeouts, progress and the run report."""
