"""Parsed YAML kept between runs, keyed by each file's exact bytes (what ruff and mypy do for
their inputs): a second `deployer validate` of an unchanged repository parses nothing again.

- The key is the SHA-256 of the file's bytes, whether positions were asked for, and the code of
  the parser itself (`deployer/config/yamlload.py`): any edit to a file or to the parser misses.
- Only what parsed cleanly is kept (a file with a problem is parsed again, to report it).
- A file whose name says it holds secrets is kept only when it is sops-encrypted (ciphertext, as
  in the repository): the cache never holds a secret that a user left in clear text by mistake.
- One cache file per repository, in the per-user cache (`<cache>/parsed/`), never in the
  repository (validating a folder never writes into it); it holds only the entries the last run
  used, so it cannot grow beyond one repository's files; the files of the 32 repositories validated
  last are kept, older ones removed. A cache that cannot be read or written is ignored: it only
  ever saves time.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from deployer.config.yamlload import Loaded

FORMAT = b"deployer-parse-cache-1"
MAX_BYTES = 64 * 1024 * 1024  # a cache file larger than this is neither read nor written
MAX_REPOSITORIES = 32  # cache files kept (the most recently written); older ones are removed


def _parser_id() -> bytes:
    from deployer.config import yamlload

    return hashlib.sha256(FORMAT + Path(yamlload.__file__).read_bytes()).digest()


class ParseCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._parser = _parser_id()
        self._old: dict[bytes, Any] = {}
        self._used: dict[bytes, Any] = {}
        self.hits = 0
        self.misses = 0
        try:
            if path.stat().st_size <= MAX_BYTES:
                stored = marshal.loads(path.read_bytes())
                if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == self._parser:
                    self._old = stored[1]
        except (OSError, ValueError, EOFError, TypeError):
            self._old = {}

    @classmethod
    def for_repository(cls, root: Path, cache_root: Path) -> "ParseCache":
        name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
        return cls(cache_root / "parsed" / f"{name}.marshal")

    def _key(self, raw: bytes, positions: bool) -> bytes:
        return hashlib.sha256(raw).digest() + (b"p" if positions else b"-")

    def get(self, raw: bytes, positions: bool) -> Optional[Loaded]:
        key = self._key(raw, positions)
        entry = self._used.get(key) or self._old.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._used[key] = entry
        data, key_positions, value_positions = entry
        return Loaded(data, key_positions, value_positions)

    def put(self, raw: bytes, positions: bool, loaded: Loaded) -> None:
        self._used[self._key(raw, positions)] = (loaded.data, loaded.key_positions, loaded.value_positions)

    def save(self) -> None:
        """Write the entries this run used (atomically), when they are not those of the last run
        (something new was parsed, or an entry of the last run is no longer used)."""
        if self._used.keys() == self._old.keys():
            return
        try:
            data = marshal.dumps((self._parser, self._used))  # plain data only: the loader makes nothing else
            if len(data) > MAX_BYTES:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".parsed-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _prune(self.path.parent, keep=self.path)
        except (OSError, ValueError):
            return


def _prune(folder: Path, keep: Path) -> None:
    """Only the MAX_REPOSITORIES most recently written cache files stay."""
    files = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".marshal") and entry.is_file(follow_symlinks=False):
            files.append((entry.stat().st_mtime, entry.path))
    files.sort(reverse=True)
    for _, path in files[MAX_REPOSITORIES:]:
        if Path(path) != keep:
            Path(path).unlink(missing_ok=True)
