"""The cluster's recorded state (`state.json`: ports, PIDs, the host's baseline), read and written
whole; a missing or unreadable file reads as no state."""

from __future__ import annotations

from deployer.local.spec import Layout, State


def load(layout: Layout) -> State | None:
    try:
        return State.from_json(layout.state_file.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError):
        return None


def save(layout: Layout, state: State) -> None:
    """Written to a temporary file and renamed: a reader never sees half a file."""
    tmp = layout.state_file.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.replace(layout.state_file)
