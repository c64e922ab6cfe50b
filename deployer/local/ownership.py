"""Which folders are deployer's: a folder `local up` creates (or an empty one it is given) gets a
marker file; `status`, `up` and `down` never read, reuse or delete a folder that holds files but no
marker, nor one kept directly in a home or root folder."""

from __future__ import annotations

import json
from pathlib import Path

from deployer.local.node_lock import LocalClusterError
from deployer.local.spec import MARKER, Layout


def owned(layout: Layout) -> bool | None:
    """True: deployer's folder (marker); None: no folder or an empty one; False: someone else's."""
    root = layout.root
    if layout.marker.is_file():
        return True
    if not root.exists():
        return None
    if not root.is_dir():
        return False
    return None if not any(root.iterdir()) else False


def refuse_foreign(layout: Layout, action: str) -> None:
    """Raise unless `action` (read, use, delete) may touch the folder."""
    root = layout.root
    precious = {Path("/"), Path.home().resolve()}
    if root in precious or root.parent in precious:
        raise LocalClusterError(
            f"refusing to keep the local cluster in {root}: its state folder {root.parent} is a home or root folder",
            hint="pass --state-dir a folder of its own (e.g. ~/.local/state/deployer)")
    if owned(layout) is False:
        raise LocalClusterError(
            f"{root} was not created by deployer (it has no {MARKER} marker); refusing to {action} it",
            hint="pass --state-dir a new or empty folder for the local cluster (it uses <state-dir>/local)",
        )


def mark(layout: Layout, *, created_folder: bool) -> None:
    """Write the marker (once): `created_folder` tells `down` the whole folder may go."""
    if not layout.marker.exists():
        layout.marker.write_text(json.dumps({"created_by": "deployer local up", "created_folder": created_folder}) + "\n")


def marker_info(layout: Layout) -> dict:
    """What the marker records ({} when it is missing or unreadable)."""
    try:
        return json.loads(layout.marker.read_text())
    except (OSError, ValueError):
        return {}
