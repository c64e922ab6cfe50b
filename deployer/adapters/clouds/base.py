"""What every provider's credentials come down to: a kubeconfig (and a context in it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class ClusterAccess:
    kubeconfig: Path
    context: Optional[str] = None
    # extra environment a child process needs next to the kubeconfig (never os.environ)
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""
