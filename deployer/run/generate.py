"""`generate cluster`: render (pure) -> refuse to overwrite -> encrypt the secrets with sops
(plaintext only ever on sops' standard input) -> write every file, or none."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from deployer.adapters.process import ProcessRunner
from deployer.adapters.sops import Sops
from deployer.errors import DeployerError
from deployer.paths import CLUSTERS_DIR
from deployer.plan.scaffold import ScaffoldRequest, render


@dataclass(frozen=True)
class Generated:
    folder: Path
    files: tuple[str, ...]


def generate_cluster(root: Path, req: ScaffoldRequest, runner: ProcessRunner,
                     age_recipient: Optional[str] = None) -> Generated:
    folder = root / CLUSTERS_DIR / req.name
    sops_config = root / ".sops.yaml"
    if age_recipient is None and not sops_config.is_file():
        raise DeployerError("no age recipient to encrypt the new cluster's secrets with",
                            hint=f"pass --age-recipient age1..., or add creation rules to {sops_config}")
    tokens = {hub: secrets.token_hex(32) for hub in req.hubs}
    for token in tokens.values():
        runner.redactor.add(token)
    files = render(req, tokens)
    existing = [f.path for f in files if (folder / f.path).exists()]
    if existing:
        raise DeployerError(f"{folder.relative_to(root)} already has {', '.join(existing)}: nothing was written",
                            hint="generate refuses to overwrite files; pick another name, or remove them first")
    sops = Sops(runner)
    contents: dict[str, str] = {}
    for f in files:
        if f.secret:
            rel = (CLUSTERS_DIR / req.name / f.path).as_posix()
            contents[f.path] = sops.encrypt_text(f.text, rel, recipient=age_recipient,
                                                 config=None if age_recipient else sops_config, cwd=root)
        else:
            contents[f.path] = f.text
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for name, text in contents.items():
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            written.append(folder / name)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return Generated(folder, tuple(contents))
