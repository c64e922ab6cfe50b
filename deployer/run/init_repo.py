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


def _key_path(key_dir: Path, target: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = re.sub(r"[^A-Za-z0-9._-]", "-", target.name or "repo")
    return key_dir / f"{name}-{stamp}.age-key.txt"


def init_repository(target: Path, *, install_spec: str = DEFAULT_SPEC, key_dir: Path | None = None) -> InitResult:
    target = target.expanduser().absolute()
    spec = check_spec(install_spec)
    _refuse_non_empty(target)
    key_dir = (key_dir or default_key_dir()).expanduser().absolute()
    if key_dir == target or target in key_dir.parents:
        raise UsageError(f"the age key folder {key_dir} is inside the new repository",
                         hint="the private key must live outside the repository: pass another --key-dir")
    key = generate()
    texts = {}
    for rel, template in FILES:
        text = (TEMPLATES / template).read_text(encoding="utf-8")
        texts[rel] = (text.replace("@@AGE_RECIPIENT@@", key.recipient).replace("@@DEPLOYER_SPEC@@", spec)
                      .replace("@@DEPLOYER_URL@@", PROJECT_URL))
    # every check is done: now write, the key first (owner-only), then the repository
    key_file = _key_path(key_dir, target)
    try:
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.key_file_text())
        target.mkdir(parents=True, exist_ok=True)
        result = InitResult(target, key_file=key_file, recipient=key.recipient)
        for rel, text in texts.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8") as f:
                f.write(text)
            result.written.append(rel)
    except OSError as e:
        raise ConfigError(f"deployer init could not write {e.filename}: {e.strerror}",
                          hint="check the folder is writable; what was written so far is listed by a rerun's refusal") from e
    return result
