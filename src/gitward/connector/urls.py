"""Remote repository URLs: the one place that turns what a user pastes into user, host,
port and path. Pure: a string in, a ``RemoteURL`` or an ``InvalidRemoteURL`` out.

Two forms, as git itself reads them:

* scp-like ``[user@]host:path`` (``git@github.com:acme/app.git``); no port, so port 22.
  git takes it as scp-like only when there is no slash before the first colon, and a
  bracketed ``[host]`` may hold colons (IPv6); ``[user@host:port]:path`` is git's old
  port-carrying variant and is accepted too.
* ``ssh://[user@]host[:port]/path`` (also ``git+ssh://`` and ``ssh+git://``).

Only SSH is accepted (the connector's key pair is its only credential): ``https://``,
``git://``, ``file://`` and local paths are refused, each saying why. Refused too: a host
or user starting with ``-`` (git's own CVE-2017-1000117 guard: ssh would take it for an
option), control characters and spaces, and a path that is empty or starts with ``-``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gitward.errors import InvalidInput

MAX_URL_LENGTH: Final = 1024
DEFAULT_PORT: Final = 22
_SSH_SCHEMES: Final = ("ssh://", "git+ssh://", "ssh+git://")
_USER: Final = re.compile(r"^[A-Za-z0-9._~+-][A-Za-z0-9._~+-]{0,63}$")
# A DNS name or IPv4 address; IPv6 only inside brackets (parsed separately).
_HOST: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$")
_IPV6: Final = re.compile(r"^[0-9A-Fa-f:.]{2,45}(?:%[A-Za-z0-9]{1,16})?$")


class InvalidRemoteURL(InvalidInput):
    """A repository URL the connector cannot use."""


@dataclass(frozen=True)
class RemoteURL:
    """Where a remote repository is. ``user`` is None when the URL names none (ssh then
    uses the local account's name, which is never what a Git host wants: see ``ssh_user``)."""

    host: str  # lower-case; IPv6 without brackets
    port: int
    path: str  # as given after the host: "acme/app.git", "/srv/git/app.git", "~/app.git"
    user: str | None = None
    scp_like: bool = False

    @property
    def ssh_user(self) -> str:
        """The SSH username: the URL's, else ``git`` (every Git host's convention)."""
        return self.user or "git"

    @property
    def host_port(self) -> str:
        """``host:port`` as pins are keyed and printed (``[::1]:22`` for IPv6)."""
        return format_host_port(self.host, self.port)

    @property
    def known_hosts_name(self) -> str:
        """The host as OpenSSH writes it in known_hosts: bare on port 22, else ``[h]:p``."""
        return known_hosts_name(self.host, self.port)

    @property
    def git_url(self) -> str:
        """The URL handed to git, with the user made explicit and the form kept: an
        scp-like path is relative to the account's home (git-shell, gitolite), an ssh://
        path is absolute, and the two differ on a plain sshd."""
        user = self.ssh_user
        if self.scp_like:
            if ":" in self.host:
                return f"{user}@[{self.host}]:{self.path}"
            if self.port != DEFAULT_PORT:
                return f"[{user}@{self.host}:{self.port}]:{self.path}"
            return f"{user}@{self.host}:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        path = self.path if self.path.startswith("/") else "/" + self.path
        return f"ssh://{user}@{host}:{self.port}{path}"

    @property
    def default_name(self) -> str:
        """A repository name for ``repo add`` without ``--name``: the path's last part."""
        last = self.path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", last).strip(".-") or self.host
        return cleaned[:100]


def format_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def known_hosts_name(host: str, port: int) -> str:
    if port == DEFAULT_PORT and ":" not in host:
        return host
    return f"[{host}]:{port}"


def parse_remote_url(text: str) -> RemoteURL:
    """Parse a repository URL in either SSH form (see the module's docstring)."""
    url = text.strip()
    if not url:
        raise InvalidRemoteURL("the repository URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRemoteURL(f"the repository URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise InvalidRemoteURL("the repository URL contains spaces or control characters")
    lowered = url.lower()
    for scheme in _SSH_SCHEMES:
        if lowered.startswith(scheme):
            return _parse_ssh_url(url[len(scheme) :], url)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url):
        scheme = url.split("://", 1)[0].lower()
        raise InvalidRemoteURL(
            f"{scheme}:// URLs are not supported: the connector reaches repositories over SSH "
            "with its key; use git@host:path.git or ssh://git@host:port/path.git"
        )
    return _parse_scp_like(url)


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[HOST]:PORT`` or ``[IPV6]`` -> (host, port)."""
    value = text.strip()
    if not value:
        raise InvalidRemoteURL("give a host, e.g. git.example.com or git.example.com:2222")
    if value.startswith("["):
        inside, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise InvalidRemoteURL(f"cannot read {value[:80]!r} as [HOST]:PORT")
        return _host(inside), _port(rest[1:]) if rest else DEFAULT_PORT
    if value.count(":") > 1:
        raise InvalidRemoteURL("write an IPv6 address in brackets: [2001:db8::1]:22")
    host, sep, port = value.partition(":")
    return _host(host), _port(port) if sep else DEFAULT_PORT


def _parse_ssh_url(rest: str, original: str) -> RemoteURL:
    authority, slash, path = rest.partition("/")
    if not slash or not path.strip("/"):
        raise InvalidRemoteURL(f"the URL {original[:80]!r} names no repository path")
    user, at, hostport = authority.rpartition("@")
    host, port = parse_host_port(hostport)
    # ssh://host/~user/repo means the home directory of user, like git reads it.
    return RemoteURL(
        host=host,
        port=port,
        path=_path("/" + path),
        user=_user(user) if at else None,
    )


def _parse_scp_like(url: str) -> RemoteURL:
    if url.startswith("["):
        # [host]:path or git's old [user@host:port]:path
        inside, sep, rest = url[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise InvalidRemoteURL(_NOT_A_URL.format(url[:80]))
        user, at, hostport = inside.rpartition("@")
        if hostport.count(":") == 1:  # git's [user@host:port]:path
            host, port = parse_host_port(hostport)
        else:
            host, port = _host(hostport), DEFAULT_PORT
        return RemoteURL(host, port, _path(rest[1:]), _user(user) if at else None, True)
    user_part, at_bracket, bracketed = url.partition("@[")
    if at_bracket and "/" not in user_part and ":" not in user_part:
        # user@[ipv6]:path
        inside, sep, rest = bracketed.partition("]")
        if not sep or not rest.startswith(":"):
            raise InvalidRemoteURL(_NOT_A_URL.format(url[:80]))
        return RemoteURL(_host(inside), DEFAULT_PORT, _path(rest[1:]), _user(user_part), True)
    colon = url.find(":")
    slash = url.find("/")
    if colon < 0 or (0 <= slash < colon):
        raise InvalidRemoteURL(_NOT_A_URL.format(url[:80]))
    authority, path = url[:colon], url[colon + 1 :]
    user, at, host = authority.rpartition("@")
    return RemoteURL(_host(host), DEFAULT_PORT, _path(path), _user(user) if at else None, True)


_NOT_A_URL: Final = (
    "cannot read {!r} as a repository URL: use git@host:path.git or "
    "ssh://git@host:port/path.git (local paths are not remote repositories)"
)


def _user(user: str) -> str:
    if not _USER.match(user) or user.startswith("-"):
        raise InvalidRemoteURL(
            f"the SSH username {user[:64]!r} is not usable: letters, digits and ._~+- only, "
            "not starting with '-'"
        )
    return user


def _host(host: str) -> str:
    if host.startswith("-"):
        raise InvalidRemoteURL("a host name cannot start with '-'")
    lowered = host.lower()
    if _HOST.match(lowered) and ".." not in lowered:
        return lowered
    if ":" in host and _IPV6.match(host):
        return lowered
    raise InvalidRemoteURL(f"{host[:80]!r} is not a host name or address")


def _port(text: str) -> int:
    # ASCII digits only ("²".isdigit() is true, int("²") fails), and few of them: int()
    # refuses more than 4300 digits with ValueError.
    if not (text.isascii() and text.isdigit() and len(text) <= 5) or not 0 < int(text) < 65536:
        raise InvalidRemoteURL(f"the port {text[:10]!r} is not a number from 1 to 65535")
    return int(text)


def _path(path: str) -> str:
    if not path or not path.strip("/"):
        raise InvalidRemoteURL("the URL names no repository path")
    if path.startswith("-"):
        raise InvalidRemoteURL("a repository path cannot start with '-'")
    if "\\" in path or "'" in path or '"' in path:
        raise InvalidRemoteURL("a repository path cannot contain quotes or backslashes")
    return path
