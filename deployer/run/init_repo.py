"""`deployer init`: a configuration repository a user can start from.

It writes `config/clusters/local/` (the local cluster with one hub), `.sops.yaml` with a fresh age
recipient, `.gitignore`, the CI workflow and a short README. The age private key is written
*outside* the repository (owner-only), and only its path is reported. Nothing is overwritten:
the target must be empty (a `.git` folder alone is fine), and every check runs before the first
file is written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from deployer import DISTRIBUTION, __version__
from deployer.agekey import generate
from deployer.errors import ConfigError, UsageError
from deployer.paths import package_dir
from deployer.userfiles import path_problem, short_path

TEMPLATES = package_dir() / "templates" / "init"
DEFAULT_SPEC = f"{DISTRIBUTION}=={__version__}"
PROJECT_URL = "https://github.com/deployer-dev/deployer"
# a pip requirement: a name with an optional version or a URL, on one line, without quotes or `$`
_SPEC_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-\[\],]*\s*((==|>=|<=|~=|!=|<|>)[A-Za-z0-9.*+!\-]+|@\s*[A-Za-z0-9+.:/_@#=?&%\-]+)?$")

# where each template goes (path in the repository, template file)
FILES: tuple[tuple[str, str], ...] = (
    ("config/clusters/local/cluster.yaml", "cluster.yaml"),
    ("config/clusters/local/hub.values.yaml", "hub.values.yaml"),
    ("config/clusters/local/support.values.yaml", "support.values.yaml"),
    (".sops.yaml", "sops.yaml"),
    (".gitignore", "gitignore"),
    (".github/workflows/deploy.yaml", "workflow.yaml"),
    ("README.md", "README.md"),
)


@dataclass
class InitResult:
    root: Path
    written: list[str] = field(default_factory=list)
    key_file: Path | None = None
    recipient: str = ""

    def to_json(self) -> dict[str, object]:
        return {"root": str(self.root), "written": self.written, "age_key_file": str(self.key_file),
                "age_recipient": self.recipient}


def default_key_dir(env: dict[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/deployer/age` (`~/.config/deployer/age`): outside any repository."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME", "")
    base_dir = Path(base) if base and os.path.isabs(base) else Path(env.get("HOME") or Path.home()) / ".config"
    return base_dir / "deployer" / "age"


def check_spec(spec: str) -> str:
    if not _SPEC_RE.match(spec.strip()) or "\n" in spec:
        raise UsageError(f"--install-spec {spec!r} is not a pip requirement",
                         hint=f"e.g. {DISTRIBUTION}==0.2.0 or '{DISTRIBUTION} @ git+https://example.org/deployer@v0.2.0'")
    return spec.strip()


def _refuse_non_empty(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder", hint="pass a new or empty folder to `deployer init`")
    if target.is_dir():
        try:
            entries = sorted(p.name for p in target.iterdir() if p.name != ".git")
        except OSError as e:
            raise ConfigError(f"{target}: cannot be read ({e.strerror})") from e
        if entries:
            shown = ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else "")
            raise ConfigError(f"{target} is not empty ({shown}); deployer init never overwrites anything",
                              hint="pass a new or empty folder (a .git folder alone is fine)")


def _key_path(key_dir: Path, target: Path, recipient: str) -> Path:
    """`<repository name>-<time>-<end of the recipient>.age-key.txt`: two inits of folders with
    the same name in the same second still get two files (the recipient is the key's own)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = re.sub(r"[^A-Za-z0-9._-]", "-", target.name or "repo")[:100]
    return key_dir / f"{name}-{stamp}-{recipient[-8:]}.age-key.txt"


def _check_path(path: Path, what: str) -> None:
    problem = path_problem(path)
    if problem is None and what == "--key-dir" and path.exists() and not path.is_dir():
        problem = "it is a file, not a folder"
    if problem:
        raise ConfigError(f"{what + ' ' if what else ''}{short_path(path)}: {problem}",
                          hint="pass a new or empty folder" if not what else "pass another folder")


def init_repository(target: Path | str, *, install_spec: str = DEFAULT_SPEC, key_dir: Path | None = None) -> InitResult:
    if not str(target).strip():
        raise UsageError("the folder to create the repository in is empty",
                         hint="name it, e.g. `deployer init my-hubs` (`deployer init .` for the working directory)")
    target = Path(target).expanduser().absolute()
    spec = check_spec(install_spec)
    _check_path(target, "")
    _refuse_non_empty(target)
    key_dir = (key_dir or default_key_dir()).expanduser().absolute()
    _check_path(key_dir, "--key-dir")
    if key_dir == target or target in key_dir.parents:
        raise UsageError(f"the age key folder {key_dir} is inside the new repository",
                         hint="the private key must live outside the repository: pass another --key-dir")
    key = generate()
    texts = {}
    for rel, template in FILES:
        text = (TEMPLATES / template).read_text(encoding="utf-8")
        texts[rel] = (text.replace("@@AGE_RECIPIENT@@", key.recipient).replace("@@DEPLOYER_SPEC@@", spec)
                      .replace("@@DEPLOYER_URL@@", PROJECT_URL))
    # every check is done: now write the repository, then the key (owner-only); on a failure,
    # what this init wrote is taken back (never anything it did not make), so no private key is
    # left without its repository, nor a repository whose key was never written
    made: list[Path] = []  # files and folders this init created, in order
    result = InitResult(target, key_file=_key_path(key_dir, target, key.recipient), recipient=key.recipient)
    try:
        _make_dirs(target, made)
        for rel, text in texts.items():
            path = target / rel
            _make_dirs(path.parent, made)
            with open(path, "x", encoding="utf-8") as f:
                made.append(path)
                f.write(text)
            result.written.append(rel)
        _make_dirs(key_dir, made, mode=0o700)
        fd = os.open(result.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        made.append(result.key_file)
        with os.fdopen(fd, "w") as f:
            f.write(key.key_file_text())
    except OSError as e:
        _take_back(made)
        raise ConfigError(f"deployer init could not write {e.filename}: {e.strerror}",
                          hint="check the folders are writable; nothing of this init was kept") from e
    return result


def _make_dirs(folder: Path, made: list[Path], mode: int = 0o777) -> None:
    """`mkdir -p`, noting each folder it created."""
    missing = []
    for parent in (folder, *folder.parents):
        if parent.is_dir():
            break
        missing.append(parent)
    for path in reversed(missing):
        path.mkdir(mode=mode)
        made.append(path)


def _take_back(made: list[Path]) -> None:
    for path in reversed(made):
        try:
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        except OSError:  # best effort: what cannot be removed is left for the user, as written
            pass
