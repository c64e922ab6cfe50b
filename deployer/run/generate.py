"""`generate cluster`: check (options, folder, domains) -> render (pure, YAML written by the YAML
library) -> refuse to overwrite -> encrypt the secrets with sops (plaintext only ever on sops'
standard input) -> write every file, or none -> `validate` the new cluster, removing it again if
it does not pass. Nothing is ever written outside `config/clusters/<name>/`."""

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


def _target_folder(root: Path, name: str) -> Path:
    """config/clusters/<name>, refused when it (or config/clusters) is a link or leads elsewhere."""
    clusters = root / CLUSTERS_DIR
    real_root = root.resolve()
    if not clusters.is_dir() or clusters.is_symlink() or not clusters.resolve().is_relative_to(real_root):
        raise DeployerError(f"{clusters} is not a folder of this repository",
                            hint="run inside a configuration repository (or create one with `deployer init`)")
    folder = clusters / name
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise DeployerError(f"{folder.relative_to(root)} exists and is not a plain folder: nothing was written",
                            hint="pick another name, or remove it first")
    if folder.resolve().parent != clusters.resolve():
        raise DeployerError(f"{name}: not a folder name inside {CLUSTERS_DIR}")
    return folder


def _domain_conflicts(root: Path, req: ScaffoldRequest) -> list[str]:
    from deployer.checks.validate import validate

    taken: dict[str, str] = {}
    for doc in validate(root).docs:
        if doc.folder_name == req.name:
            continue  # that folder's own files are refused below (never overwritten)
        for hub in doc.model.hubs:
            taken[hub.domain.lower().rstrip(".")] = f"{doc.folder_name}/{hub.name}"
    return [f"{req.hub_domain(h)} (used by {taken[req.hub_domain(h)]})" for h in req.hubs if req.hub_domain(h) in taken]


def generate_cluster(root: Path, req: ScaffoldRequest, runner: ProcessRunner,
                     age_recipient: Optional[str] = None) -> Generated:
    folder = _target_folder(root, req.name)
    sops_config = root / ".sops.yaml"
    if age_recipient is None and not sops_config.is_file():
        raise DeployerError("no age recipient to encrypt the new cluster's secrets with",
                            hint=f"pass --age-recipient age1..., or add creation rules to {sops_config}")
    if age_recipient is not None and (not age_recipient.startswith("age1") or not age_recipient.isalnum()):
        raise DeployerError(f"--age-recipient {age_recipient[:80]!r}: not an age public key (age1...)",
                            hint="`age-keygen -y KEYFILE` prints the public key of a key file")
    conflicts = _domain_conflicts(root, req)
    if conflicts:
        raise DeployerError(f"domain(s) already used by other hubs: {', '.join(conflicts)}: nothing was written",
                            hint="pass --domain with a domain of the new cluster's own")
    tokens = {hub: secrets.token_hex(32) for hub in req.hubs}
    for token in tokens.values():
        runner.redactor.add(token)
    files = render(req, tokens)
    existing = [f.path for f in files if (folder / f.path).exists() or (folder / f.path).is_symlink()]
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
    created_folder = not folder.exists()
    written: list[Path] = []

    def remove_written() -> None:
        for path in written:
            path.unlink(missing_ok=True)
        if created_folder:
            try:
                folder.rmdir()  # only the folder generate made, and only when empty
            except OSError:
                pass

    try:
        folder.mkdir(exist_ok=True)
        for name, text in contents.items():
            target = folder / name
            assert target.parent == folder, target  # names come from DNS labels only
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            written.append(target)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
    except OSError as e:
        remove_written()
        raise DeployerError(f"{folder.relative_to(root)}: cannot write it: {e.strerror}: nothing was kept") from e
    except BaseException:
        remove_written()
        raise
    from deployer.checks.validate import validate

    problems = validate(root, req.name).report.errors
    if problems:
        remove_written()
        shown = "; ".join(f"{p.location}: {p.message}" for p in problems[:3])
        raise DeployerError(f"the generated cluster does not validate ({shown}): nothing was kept",
                            hint="this is a bug in `generate cluster`; please report it with the options used")
    return Generated(folder, tuple(contents))
