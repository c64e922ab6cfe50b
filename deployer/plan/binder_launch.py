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

from deployer.plan.values_path import dig


@dataclass(frozen=True)
class BinderLaunch:
    """A server started as BinderHub starts it: with this image and a token the caller makes."""

    image: Optional[str]  # None: the values name none (the spawner refuses the start: "image required")

    def user_options(self, token: str) -> dict[str, str]:
        return {"token": token, **({"image": self.image} if self.image else {})}


def binder_launch(values: Any) -> Optional[BinderLaunch]:
    """The launch of an unauthenticated BinderHub hub (the jupyterhub chart's `values`), or None for
    any other hub (its servers are started by the hub's own users, as usual)."""
    if dig(values, ("custom", "binderhubUI", "enabled")) is not True:
        return None
    if dig(values, ("hub", "config", "BinderSpawnerMixin", "auth_enabled")) is True:
        return None
    name, tag = dig(values, ("singleuser", "image", "name")), dig(values, ("singleuser", "image", "tag"))
    if not isinstance(name, str) or not name:
        return BinderLaunch(None)
    return BinderLaunch(f"{name}:{tag}" if tag not in (None, "") else name)
