"""git: resolve refs and export a commit's configuration into a folder. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployer.adapters.process import ProcessRunner, last_line
from deployer.errors import DeployerError, ToolMissing

GIT_TIMEOUT = 120.0


class GitError(DeployerError):
    """A git question could not be answered (unknown ref, not a repository, shallow clone)."""


@dataclass(frozen=True)
class Git:
    repo: Path
    runner: ProcessRunner

    def _git(self, *args: str, timeout: float = GIT_TIMEOUT, binary: bool = False):
        try:
            return self.runner.run(["git", "-C", str(self.repo), *args], timeout=timeout)
        except ToolMissing as exc:
            raise GitError("git is not installed", hint="install git (apt-get install git)") from exc

    def toplevel(self) -> Path:
        result = self._git("rev-parse", "--show-toplevel")
        if not result.ok:
            raise GitError(f"{self.repo} is not inside a git repository",
                           hint="run plan-upgrade in a clone of the configuration repository, or use --changed-files")
        return Path(result.stdout.strip())

    def resolve(self, ref: str) -> str:
        """The commit a ref names; a clear error for an unknown ref or one a shallow clone lacks."""
        if ref.startswith("-"):
            raise GitError(f"`{ref}` is not a git ref")
        result = self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if result.ok and result.stdout.strip():
            return result.stdout.strip()
        if self.is_shallow():
            raise GitError(
                f"ref `{ref}` is not in this clone, which is shallow",
                hint="fetch more history (`git fetch --unshallow`, or actions/checkout with fetch-depth: 0)",
            )
        raise GitError(f"unknown git ref `{ref}`", hint="name a branch, tag or commit that exists in this repository")

    def is_shallow(self) -> bool:
        result = self._git("rev-parse", "--is-shallow-repository")
        return result.ok and result.stdout.strip() == "true"

    def export(self, commit: str, paths: list[str], dest: Path) -> None:
        """Write the files under `paths` at `commit` into `dest` (missing paths are fine).

        git itself writes the files (a checkout into another work tree, with a throw-away
        index), so the repository's own index and work tree are never touched."""
        present = self._git("ls-tree", "--name-only", commit, "--", *paths)
        wanted = [p for p in present.stdout.splitlines() if p] if present.ok else []
        dest.mkdir(parents=True, exist_ok=True)
        if not wanted:
            return
        index = dest.parent / f".{dest.name}.index"
        try:
            result = self.runner.run(
                ["git", "-C", str(self.repo), f"--work-tree={dest}", "checkout", commit, "--", *wanted],
                timeout=GIT_TIMEOUT, env={"GIT_INDEX_FILE": str(index)},
            )
        finally:
            index.unlink(missing_ok=True)
        if not result.ok:
            raise GitError(f"git checkout of {commit[:12]} into a temporary folder failed: {last_line(result.stderr)}")

    def files(self, commit: str, paths: list[str]) -> list[str]:
        """Every file under `paths` at `commit` (names relative to the repository top)."""
        result = self._git("ls-tree", "-r", "--name-only", "-z", commit, "--", *paths)
        if not result.ok:
            raise GitError(f"git ls-tree {commit[:12]} failed: {last_line(result.stderr)}")
        return [p for p in result.stdout.split("\0") if p]

    def blob_id(self, commit: str, path: str) -> str | None:
        result = self._git("rev-parse", "--verify", "--quiet", f"{commit}:{path}")
        return result.stdout.strip() if result.ok and result.stdout.strip() else None

    def read_blobs(self, commit: str, paths: list[str]) -> dict[str, bytes]:
        """The content of files at `commit`, read in one `git cat-file --batch` call."""
        if not paths:
            return {}
        request = "".join(f"{commit}:{p}\n" for p in paths).encode()
        result = self.runner.run_bytes(["git", "-C", str(self.repo), "cat-file", "--batch"], timeout=GIT_TIMEOUT,
                                       input=request)
        if result.returncode != 0:
            raise GitError(f"git cat-file failed: {last_line(result.stderr.decode(errors='replace'))}")
        out: dict[str, bytes] = {}
        data = result.stdout
        pos = 0
        for path in paths:
            end = data.index(b"\n", pos)
            header = data[pos:end].split()
            pos = end + 1
            if len(header) < 3 or header[-1] == b"missing":
                continue
            size = int(header[2])
            out[path] = data[pos:pos + size]
            pos += size + 1
        return out

    def is_clean(self, paths: list[str]) -> bool:
        """No modified, staged or untracked file under `paths` in the work tree."""
        result = self._git("status", "--porcelain", "--untracked-files=normal", "--", *paths)
        return result.ok and not result.stdout.strip()

    def changed_files(self, base: str, head: str, paths: list[str] | None = None) -> list[str]:
        result = self._git("diff", "--name-only", "--no-renames", "-z", base, head, "--", *(paths or []))
        if not result.ok:
            raise GitError(f"git diff {base[:12]} {head[:12]} failed: {last_line(result.stderr)}")
        return [p for p in result.stdout.split("\0") if p]

    def has_commit(self, commit: str) -> bool:
        """Whether `commit` (a full id) is in this repository."""
        result = self._git("cat-file", "-e", f"{commit}^{{commit}}")
        return result.ok

    def changed_since(self, commit: str, paths: list[str]) -> list[str]:
        """Files under `paths` that differ between `commit` and the work tree (staged, unstaged and
        untracked alike)."""
        result = self._git("diff", "--name-only", "--no-renames", "-z", commit, "--", *paths)
        if not result.ok:
            raise GitError(f"git diff {commit[:12]} failed: {last_line(result.stderr)}")
        untracked = self._git("ls-files", "--others", "--exclude-standard", "-z", "--", *paths)
        names = [p for p in result.stdout.split("\0") if p]
        if untracked.ok:
            top = self.toplevel()
            rel = Path(self.repo).resolve().relative_to(top.resolve()).as_posix()
            prefix = "" if rel == "." else rel + "/"
            names += [prefix + p for p in untracked.stdout.split("\0") if p]
        return sorted(set(names))

