"""Which profile of a hub's `profileList` the user test starts (pure): the one a user gets by pressing
Start (the profile marked `default`, else the first), with each of its options' default choice (the one
marked `default`, else the first), as the options KubeSpawner takes through the REST API:
`{"profile": <slug>, <option>: <choice key>}`. A profile without a `slug` gets KubeSpawner's own (its
`display_name` slugified)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class ProfileChoice:
    slug: str
    display_name: str
    choices: tuple[tuple[str, str], ...]  # (option, choice key), in the profile's order

    def user_options(self) -> dict[str, str]:
        return {"profile": self.slug, **dict(self.choices)}

    def describe(self) -> str:
        picked = ", ".join(f"{option}: {key}" for option, key in self.choices)
        return f"profile `{self.slug}`" + (f" ({picked})" if picked else "")


def slugify(text: str) -> str:
    """KubeSpawner's slug of a display name (python-slugify's defaults, for what display names hold):
    ASCII-folded, lower case, thousands separators dropped, every run of other characters one `-`."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"(?<=\d),(?=\d)", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _listed(items: Any) -> list:
    """A list, or a dict's values ordered by key (z2jh lets profileList and choices be either)."""
    if isinstance(items, dict):
        return [items[k] for k in sorted(items)]
    return list(items) if isinstance(items, list) else []


def _default(entries: list[tuple[str, Any]]) -> Optional[str]:
    for key, entry in entries:
        if isinstance(entry, dict) and entry.get("default"):
            return key
    return entries[0][0] if entries else None


def default_profile(values: Any) -> Optional[ProfileChoice]:
    """The default profile of the jupyterhub chart's `values` (`singleuser.profileList`), or None when
    the hub has no profile list."""
    singleuser = values.get("singleuser") if isinstance(values, dict) else None
    profiles = [p for p in _listed((singleuser or {}).get("profileList")) if isinstance(p, dict)]
    if not profiles:
        return None
    index = _default([(str(i), p) for i, p in enumerate(profiles)])
    profile = profiles[int(index or 0)]
    name = str(profile.get("display_name") or "")
    slug = str(profile.get("slug") or slugify(name))
    chosen = []
    options = profile.get("profile_options")
    for option, spec in (options.items() if isinstance(options, dict) else ()):
        choices = spec.get("choices") if isinstance(spec, dict) else None
        if isinstance(choices, dict) and choices:
            key = _default(list(choices.items()))
            if key is not None:
                chosen.append((str(option), str(key)))
    return ProfileChoice(slug, name, tuple(chosen))
