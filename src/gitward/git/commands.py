"""The SSH exec line of a git client: ``git-upload-pack 'acme/app.git'`` -> GitCommand.

Git's client quotes the path the way ``sq_quote_buf`` does: the whole argument in single
quotes, a quote inside written as ``'\\''`` and ``!`` as ``'\\!'``. We accept exactly that
(or a bare path of safe characters) and nothing a shell would interpret: the command is
never given to a shell, but refusing what a shell would treat specially keeps the parser
simple and its accepted language small.

Two failures, two answers:

* the line is not one of our commands (unknown service, extra arguments, stray shell
  characters, control characters)  -> ``InvalidCommand``   ("invalid command")
* the path cannot name a repository                          -> ``RepositoryNotFound``
  ("Repository not found.", the same answer a missing or hidden repository gets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from gitward.errors import InvalidInput, NotFound

Service = Literal["git-upload-pack", "git-receive-pack", "git-upload-archive"]
Operation = Literal["read", "write"]

SERVICES: Final[dict[str, Service]] = {
    "git-upload-pack": "git-upload-pack",
    "git-receive-pack": "git-receive-pack",
    "git-upload-archive": "git-upload-archive",
}

INVALID_COMMAND_MESSAGE: Final = "invalid command"
REPOSITORY_NOT_FOUND_MESSAGE: Final = "Repository not found."

# Like GitHub: letters, digits, '-', '_', '.'; the first character not '-' or '.' (so no
# '.', '..', hidden names, or names git could take for an option).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_MAX_NAME = 100
# A bare (unquoted) argument: nothing a shell would expand, split, or redirect.
_BARE = re.compile(r"[A-Za-z0-9_./-]+")
_MAX_COMMAND = 1024


class InvalidCommand(InvalidInput):
    """The SSH exec line is not a git command we serve."""

    def __init__(self, cause: str) -> None:
        super().__init__(INVALID_COMMAND_MESSAGE, cause=cause)


class RepositoryNotFound(NotFound):
    """The path names no repository (or one the caller may not know about)."""

    def __init__(self, cause: str) -> None:
        super().__init__(REPOSITORY_NOT_FOUND_MESSAGE, cause=cause)


@dataclass(frozen=True)
class GitCommand:
    service: Service
    owner: str
    name: str  # without ".git"

    @property
    def repo_path(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def operation(self) -> Operation:
        return "write" if self.service == "git-receive-pack" else "read"


def parse_git_command(command: str) -> GitCommand:
    """Parse an SSH exec line into a service and an OWNER/NAME repository path."""
    if len(command) > _MAX_COMMAND:
        raise InvalidCommand("command too long")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in command):
        raise InvalidCommand("control character in command")
    service, argument = _split(command)
    owner, name = _normalise(_dequote(argument))
    return GitCommand(service=service, owner=owner, name=name)


def force_command_allows(force_command: str, requested: GitCommand) -> bool:
    """True when a certificate's ``force-command`` is the requested command.

    "The same" means the same service on the same OWNER/NAME, however either is quoted,
    with or without ``.git`` or a leading ``/``. Names compare exactly: a case variant
    might be another repository on a case-sensitive store, so it is refused.
    A force-command that is not a git command we serve permits nothing.
    """
    try:
        forced = parse_git_command(force_command)
    except (InvalidCommand, RepositoryNotFound):
        return False
    return forced == requested


def _split(command: str) -> tuple[Service, str]:
    """Split ``SERVICE ARG`` or git-shell's ``git SERVICE-SUFFIX ARG`` at single spaces."""
    head, sep, rest = command.partition(" ")
    if head == "git":
        sub, sep, rest = rest.partition(" ")
        head = "git-" + sub
    service = SERVICES.get(head)
    if service is None or not sep:
        raise InvalidCommand(f"not a git service: {head[:40]!r}")
    return service, rest


def _dequote(argument: str) -> str:
    """Undo git's sq_quote_buf, or accept a bare path of safe characters."""
    if not argument.startswith("'"):
        if not _BARE.fullmatch(argument):
            raise InvalidCommand("unquoted argument with unsafe characters or spaces")
        return argument
    out: list[str] = []
    i = 1
    while True:
        end = argument.find("'", i)
        if end < 0:
            raise InvalidCommand("unterminated quote")
        out.append(argument[i:end])
        i = end + 1
        if i == len(argument):
            return "".join(out)
        # Outside quotes git only ever writes \' or \! followed by a reopening quote.
        escape = argument[i : i + 3]
        if escape not in ("\\''", "\\!'"):
            raise InvalidCommand("text after the quoted argument")
        out.append(escape[1])
        i += 3


def _normalise(path: str) -> tuple[str, str]:
    """``/acme/app.git`` -> ``("acme", "app")``; anything else that is not OWNER/NAME fails."""
    trimmed = path[1:] if path.startswith("/") else path
    parts = trimmed.split("/")
    if len(parts) != 2:
        raise RepositoryNotFound(f"path is not OWNER/NAME: {path[:80]!r}")
    owner, name = parts
    if name.endswith(".git"):
        name = name[: -len(".git")]
    for part in (owner, name):
        if len(part) > _MAX_NAME or not _NAME.fullmatch(part):
            raise RepositoryNotFound(f"bad path component {part[:80]!r}")
    return owner, name
