"""How BinderHub starts a user server on a hub, read from the jupyterhub chart's values (pure).

A hub with `custom.binderhubUI.enabled` runs basehub's BinderHub spawner. Unless its
`hub.config.BinderSpawnerMixin.auth_enabled` is true, a server there is a plain Jupyter server that
knows nothing of the hub: BinderHub starts it with the image it built and a token of its own in the
server's options, and talks to it with that token. The user test does the same with the hub's own
image (`singleuser.image`), so it starts the server as BinderHub would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class BinderLaunch:
    """A server started as BinderHub starts it: with this image and a token the caller makes."""

    image: Optional[str]  # None: the values name none (the spawner refuses the start: "image required")

    def user_options(self, token: str) -> dict[str, str]:
        return {"token": token, **({"image": self.image} if self.image else {})}


def _dig(values: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(values, dict):
            return None
        values = values.get(key)
    return values


def binder_launch(values: Any) -> Optional[BinderLaunch]:
    """The launch of an unauthenticated BinderHub hub (the jupyterhub chart's `values`), or None for
    any other hub (its servers are started by the hub's own users, as usual)."""
    if _dig(values, "custom", "binderhubUI", "enabled") is not True:
        return None
    if _dig(values, "hub", "config", "BinderSpawnerMixin", "auth_enabled") is True:
        return None
    name, tag = _dig(values, "singleuser", "image", "name"), _dig(values, "singleuser", "image", "tag")
    if not isinstance(name, str) or not name:
        return BinderLaunch(None)
    return BinderLaunch(f"{name}:{tag}" if tag not in (None, "") else name)
