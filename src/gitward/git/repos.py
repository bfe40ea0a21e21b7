"""Bare repositories on disk under ``DATA_DIR/repos/OWNER/NAME.git``. The only place,
with ``git.run``, that runs git."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gitward.errors import AlreadyExists, GitwardError, NotFound

# A clean environment: nothing from the caller's shell (GIT_DIR, GIT_CONFIG_*, ...) may steer git.
_GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "LC_ALL": "C",
}
# Settings every hosted repository carries; see issue 4 (fsck on push, atomic pushes).
_REPO_CONFIG = (
    ("receive.fsckObjects", "true"),
    ("receive.advertiseAtomic", "true"),
    ("core.logAllRefUpdates", "true"),
    ("uploadpack.allowFilter", "true"),
)


class GitFailed(GitwardError):
    """git exited with an error while Gitward managed a repository."""


def repository_path(repos_dir: Path, owner: str, name: str) -> Path:
    """Where OWNER/NAME lives; names are stored lower-case on disk so lookups are exact."""
    return repos_dir / owner.lower() / f"{name.lower()}.git"


def _git(*args: str, cwd: Path | None = None) -> None:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=_GIT_ENV, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise GitFailed(
            "git could not prepare the repository on disk",
            cause=f"git {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}",
        )


def _configure(path: Path) -> None:
    for key, value in _REPO_CONFIG:
        _git("config", key, value, cwd=path)


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise AlreadyExists(
            f"a directory already exists at {path}; move it away or remove it first"
        )


def create_bare(path: Path) -> None:
    _refuse_existing(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
        _configure(path)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def fork_bare(source: Path, path: Path) -> None:
    """A full copy of SOURCE's refs and objects (hard links where the filesystem allows)."""
    if not source.is_dir():
        raise NotFound("the repository to fork is missing on disk", cause=str(source))
    _refuse_existing(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _git("clone", "--quiet", "--bare", "--local", "--", str(source), str(path))
        _git("remote", "remove", "origin", cwd=path)
        _configure(path)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def remove_tree(path: Path) -> None:
    """Undo a creation whose database transaction failed."""
    shutil.rmtree(path, ignore_errors=True)


def move_owner_dir(repos_dir: Path, old_owner: str, new_owner: str) -> None:
    """Rename an account's directory; a no-op when the account owns nothing yet."""
    src, dst = repos_dir / old_owner.lower(), repos_dir / new_owner.lower()
    if src == dst or not src.exists():
        return
    _refuse_existing(dst)
    src.rename(dst)


# What an interrupted git leaves behind: lock files and receive-pack's quarantine.
_LOCK_GLOBS = ("*.lock", "refs/**/*.lock", "logs/**/*.lock")
_QUARANTINE_GLOB = "objects/tmp_objdir-incoming-*"


def sweep_stale(repos_dir: Path, older_than: float, now: float) -> list[Path]:
    """Remove locks and quarantine directories older than ``older_than`` seconds.

    Run at start-up: a crash (or a kill -9) of the server leaves them, and a stale
    ``refs/heads/main.lock`` would refuse every later push to main.
    """
    removed: list[Path] = []
    if not repos_dir.is_dir():
        return removed
    for repo in repos_dir.glob("*/*.git"):
        candidates = [p for g in _LOCK_GLOBS for p in repo.glob(g)]
        candidates += list(repo.glob(_QUARANTINE_GLOB))
        for path in candidates:
            try:
                if now - path.lstat().st_mtime < older_than:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path)
            except FileNotFoundError:
                continue
    return removed


def resolve_inside(repos_dir: Path, path: Path) -> Path | None:
    """``path`` with symlinks resolved, or None when it is not a repository inside
    ``repos_dir`` (a symlink pointing elsewhere included)."""
    root = repos_dir.resolve()
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        return None
    if not real.is_relative_to(root) or not (real / "HEAD").is_file():
        return None
    return real
