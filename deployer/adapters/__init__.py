"""Adapters: the only code that talks to external tools and services.

`process` is the single place that imports `subprocess`; every other adapter runs its tool
through it, so that every call has a timeout and a redacted debug log line.
"""
