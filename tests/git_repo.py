"""Configuration repositories under git, for tests: run git in one, commit everything, and plan the
releases a commit touches (`plan-upgrade` between two refs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

# a committer of its own and no signing: the tests never depend on the machine's git configuration
GIT = ["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci", "-c", "commit.gpgsign=false"]


def git(root: Path, *args: str) -> str:
    """git's output, stripped; a failing git command fails the test."""
    return subprocess.run([*GIT, "-C", str(root), *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout.strip()


def commit(root: Path, message: str = "change") -> str:
    """Commit every change of the work tree; the new commit's id."""
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


def plan(root: Path, base: str = "HEAD~1", head: str = "HEAD"):
    """What `plan-upgrade` plans between two commits."""
    from deployer.adapters.process import ProcessRunner
    from deployer.run.plan_upgrade import plan_between_refs

    return plan_between_refs(root, base, head, ProcessRunner())


def ids(jobs) -> list[str]:
    return sorted(j.id for j in jobs)


def all_ids(p) -> list[str]:
    """Every planned release, sorted: support, staging and prod alike."""
    return sorted(ids(p.support_jobs) + ids(p.staging_jobs) + ids(p.prod_jobs))
