"""The connector's git: ``ls-remote``, blobless bare mirrors, fetch, and reading history.

Mirrors live at ``DATA_DIR/connector/mirrors/NAME.git``: bare, partial clones of the remote
(``blob:none``: commits and trees only, so a repository with 2 GB objects costs what its
history costs), fetching branches only (``+refs/heads/*:refs/heads/*``, pruned), never
tags or pull-request refs. git runs with the clean environment of ``git/repos.py``, plus
GIT_SSH_COMMAND from ``git/outbound.py``; nothing here lets git fetch a blob lazily
(``--no-renames``: inexact rename detection would read blobs; ``--raw``, not ``--stat``).
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from gitward.errors import GitwardError
from gitward.git.repos import _GIT_ENV

ZERO_SHA: Final = "0" * 40
_MIRROR_CONFIG: Final = (
    ("core.repositoryformatversion", "1"),
    ("extensions.partialClone", "origin"),
    ("remote.origin.fetch", "+refs/heads/*:refs/heads/*"),
    ("remote.origin.promisor", "true"),
    ("remote.origin.partialclonefilter", "blob:none"),
    ("remote.origin.tagopt", "--no-tags"),
    # No detached gc after a fetch: it would outlive the sync (and the tests).
    ("gc.autoDetach", "false"),
    ("core.logAllRefUpdates", "false"),
)
_PROGRESS: Final = re.compile(
    rb"(Receiving objects|Resolving deltas|Counting objects|"
    rb"Compressing objects|remote: [A-Za-z ]+):\s+(\d+)% \((\d+)/(\d+)\)"
)
_STDERR_KEEP: Final = 32 * 1024
READ_CHUNK: Final = 256 * 1024
_QUEUED: Final = 64  # chunks read ahead of the parser: at most 16 MiB


class MirrorFailed(GitwardError):
    """A local git command on a mirror failed (not the remote: see RemoteResult)."""


@dataclass(frozen=True)
class RemoteResult:
    """How a command that talked to the remote ended: None as status when it was killed
    at its time limit."""

    status: int | None
    stdout: bytes
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == 0


def env_with_ssh(git_ssh_command: str) -> dict[str, str]:
    return {
        **_GIT_ENV,
        "GIT_SSH_COMMAND": git_ssh_command,
        "GIT_SSH_VARIANT": "ssh",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PROTOCOL_FROM_USER": "0",
    }


def _run_remote(
    argv: list[str],
    env: dict[str, str],
    timeout: float,
    *,
    cwd: Path | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> RemoteResult:
    """Run a git command that talks to a remote, bounded in time, reading its stderr as
    it comes (progress) and keeping its tail (a failure's detail)."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out_chunks: list[bytes] = []
    err_tail = bytearray()

    def read_stdout() -> None:
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read(READ_CHUNK), b""):  # type: ignore[union-attr]
            out_chunks.append(chunk)

    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        _kill(proc)

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        for chunk in iter(lambda: os.read(fd, 4096), b""):
            err_tail += chunk
            if len(err_tail) > _STDERR_KEEP:
                del err_tail[: len(err_tail) - _STDERR_KEEP]
            if on_progress is not None:
                for match in _PROGRESS.finditer(chunk):
                    on_progress(match.group(1).decode(), int(match.group(3)), int(match.group(4)))
        status = proc.wait()
        reader.join()
    finally:
        timer.cancel()
        if proc.poll() is None:
            _kill(proc)
            proc.wait()
    stderr = err_tail.decode(errors="replace")
    if timed_out.is_set() and status != 0:
        note = f"\ntimed out after {timeout:.0f} s"
        return RemoteResult(None, b"".join(out_chunks), stderr + note)
    return RemoteResult(status, b"".join(out_chunks), stderr)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # git and the ssh it started


@dataclass(frozen=True)
class RemoteRefs:
    heads: dict[str, str]  # branch name -> sha
    ref_count: int  # every ref advertised (branches, tags, ...), HEAD excluded
    default_branch: str | None


def parse_ls_remote(output: bytes) -> RemoteRefs:
    heads: dict[str, str] = {}
    count, default = 0, None
    for line in output.decode(errors="replace").splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            target = line[5:].split("\t", 1)[0]
            default = target.removeprefix("refs/heads/")
            continue
        sha, _, name = line.partition("\t")
        if not name or name == "HEAD" or name.endswith("^{}"):
            continue
        count += 1
        if name.startswith("refs/heads/"):
            heads[name.removeprefix("refs/heads/")] = sha
    return RemoteRefs(heads, count, default)


def ls_remote(url: str, env: dict[str, str], timeout: float, cwd: Path) -> RemoteResult:
    return _run_remote(["git", "ls-remote", "--symref", "--", url], env, timeout, cwd=cwd)


def _git(path: Path, *args: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(
        ["git", *args], cwd=path, env=_GIT_ENV, input=stdin, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise MirrorFailed(
            "git failed on a connector mirror",
            cause=f"git {' '.join(args[:3])}: exit {proc.returncode}: "
            f"{proc.stderr.decode(errors='replace').strip()[:500]}",
        )
    return proc.stdout


def ensure_mirror(path: Path, url: str) -> bool:
    """Create the bare mirror if it does not exist (True when it was created), and point
    its remote at ``url``."""
    created = False
    if not (path / "HEAD").is_file():
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(path.parent, "init", "--quiet", "--bare", str(path))
        for key, value in _MIRROR_CONFIG:
            _git(path, "config", key, value)
        created = True
    if created or _origin_url(path) != url:  # one git process less on every sync
        _git(path, "config", "remote.origin.url", url)
    return created


def _origin_url(path: Path) -> str | None:
    text = (path / "config").read_text(errors="replace")
    section = re.search(r'^\[remote "origin"\]\n((?:[ \t]+.*\n?)*)', text, re.MULTILINE)
    if section is None:
        return None
    found = re.search(r"^\s*url\s*=\s*(.*?)\s*$", section.group(1), re.MULTILINE)
    return found.group(1) if found else None


def fetch(
    path: Path,
    env: dict[str, str],
    timeout: float,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> RemoteResult:
    return _run_remote(
        [
            "git",
            "fetch",
            "--prune",
            "--no-tags",
            "--no-write-fetch-head",
            "--filter=blob:none",
            "--progress" if on_progress else "--quiet",
            "origin",
        ],
        env,
        timeout,
        cwd=path,
        on_progress=on_progress,
    )


def set_default_branch(path: Path, branch: str) -> None:
    _git(path, "symbolic-ref", "HEAD", f"refs/heads/{branch}")


def local_heads(path: Path) -> dict[str, str]:
    out = _git(path, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
    heads = {}
    for line in out.decode(errors="replace").splitlines():
        sha, _, ref = line.partition(" ")
        heads[ref.removeprefix("refs/heads/")] = sha
    return heads


def existing_commits(path: Path, shas: Iterable[str]) -> set[str]:
    """Which of ``shas`` are commits present in the mirror (an old tip may have been
    pruned by gc since the last sync)."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return set()
    out = _git(path, "cat-file", "--batch-check", stdin="".join(s + "\n" for s in wanted).encode())
    present = set()
    for line in out.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "commit":
            present.add(parts[0])
    return present


def _stream(path: Path, argv: list[str], revisions: list[str]) -> Iterator[bytes]:
    """Run ``git ARGV --stdin`` and yield its stdout in chunks.

    The revisions are written from one thread (a long list must not deadlock against a
    full stdout pipe) and stdout is read by another into a bounded queue, so git keeps
    running while the caller parses and stores what came before (on two cores the index
    costs about max(git, Python), not their sum) and at most ``_QUEUED`` chunks wait.
    """
    proc = subprocess.Popen(
        ["git", *argv, "--stdin"],
        cwd=path,
        env=_GIT_ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED)
    stop = threading.Event()

    def write(stream: IO[bytes]) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.write("".join(r + "\n" for r in revisions).encode())
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.close()

    def read(stream: IO[bytes]) -> None:
        try:
            for chunk in iter(lambda: stream.read1(READ_CHUNK), b""):  # type: ignore[attr-defined]
                while not stop.is_set():
                    try:
                        chunks.put(chunk, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        finally:
            while not stop.is_set():  # the end, unless the consumer is gone already
                try:
                    chunks.put(None, timeout=0.5)
                    break
                except queue.Full:
                    continue

    threads = [
        threading.Thread(target=write, args=(proc.stdin,), daemon=True),
        threading.Thread(target=read, args=(proc.stdout,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        while (chunk := chunks.get()) is not None:
            yield chunk
        error = proc.stderr.read()
        status = proc.wait()
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for thread in threads:
            thread.join(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    if status != 0:
        raise MirrorFailed(
            "git could not read a connector mirror's history",
            cause=f"git {argv[0]}: exit {status}: {error.decode(errors='replace')[:500]}",
        )


def log_chunks(
    path: Path, include: Iterable[str], exclude: Iterable[str], format_argument: str
) -> Iterator[bytes]:
    """``git log`` of the commits reachable from ``include`` and not from ``exclude``."""
    tips = list(include)
    if not tips:
        return iter(())
    revisions = tips + [f"^{sha}" for sha in exclude]
    argv = [
        "log",
        "--no-renames",
        "--raw",
        "--no-abbrev",
        "--diff-merges=first-parent",
        "--no-color",
        format_argument,
    ]
    return _stream(path, argv, revisions)


def rev_list(path: Path, include: Iterable[str], exclude: Iterable[str]) -> Iterator[str]:
    """Commit ids reachable from ``include`` and not from ``exclude``, streamed."""
    include = list(include)
    if not include:
        return
    rest = b""
    for chunk in _stream(path, ["rev-list"], include + [f"^{sha}" for sha in exclude]):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line:
                yield line.decode("ascii")
    if rest:
        yield rest.decode("ascii")


def left_right(path: Path, old: str, new: str) -> tuple[list[str], Iterator[str]]:
    """One walk for a branch that moved from ``old`` to ``new``: the commits only ``old``
    reaches (gone from the branch; a list, usually empty) and those only ``new`` reaches
    (added to it; streamed)."""
    only_old: list[str] = []

    def added() -> Iterator[str]:
        rest = b""
        for chunk in _stream(path, ["rev-list", "--left-right", f"{old}...{new}"], []):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line.startswith(b"<"):
                    only_old.append(line[1:].decode("ascii"))
                elif line.startswith(b">"):
                    yield line[1:].decode("ascii")
        if rest.startswith(b">"):
            yield rest[1:].decode("ascii")
        elif rest.startswith(b"<"):
            only_old.append(rest[1:].decode("ascii"))

    return only_old, added()


def remove_mirror(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
