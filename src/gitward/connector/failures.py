"""What a failed ``git ls-remote``/``git fetch`` over ssh means, and its one-line fix. Pure.

``classify(exit_status, stderr)`` reads what OpenSSH and git print (and what Git hosts
print: Gitward's ``ERROR: ...`` lines, GitHub's, git-shell's) and names a failure class.
``fix_for(kind, facts)`` writes the line a person acts on. The texts matched are the ones
the real tools print; tests/connector/test_failures.py holds them as captured.

Order matters where texts overlap: a host-key refusal first (ssh stops there), then what a
host says after the connection is made (certificates, authentication, a missing
repository: a server closing the connection after refusing a key must not read as a network
fault), then timeouts and network errors.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from gitward.errors import InvalidInput


class FailureKind(enum.StrEnum):
    HOST_KEY_UNKNOWN = "host_key_unknown"
    HOST_KEY_CHANGED = "host_key_changed"
    AUTH_REFUSED = "auth_refused"
    CERTIFICATE_REQUIRED = "certificate_required"
    NOT_FOUND = "not_found"
    NETWORK = "network"
    TIMEOUT = "timeout"
    NO_KEY = "no_key"
    OTHER = "other"


@dataclass(frozen=True)
class Classified:
    kind: FailureKind
    detail: str  # the line of stderr that decided it (no secrets: ssh and git print none)


# (kind, pattern) in the order they are tried; each against the whole stderr.
_RULES: Final[tuple[tuple[FailureKind, re.Pattern[str]], ...]] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE | re.MULTILINE))
    for kind, pattern in (
        (
            FailureKind.HOST_KEY_CHANGED,
            r"REMOTE HOST IDENTIFICATION HAS CHANGED|"
            r"Host key for .* has changed|host key .* mismatch",
        ),
        (
            FailureKind.HOST_KEY_UNKNOWN,
            r"No \S+ host key is known for|"
            r"Host key verification failed|host key is not known",
        ),
        (
            FailureKind.CERTIFICATE_REQUIRED,
            r"requires SSH certificates|"
            r"accepts only SSH certificates|SSH certificate (?:has expired|is not yet valid|"
            r"has been revoked|is not accepted)",
        ),
        (
            FailureKind.AUTH_REFUSED,
            r"Permission denied \(|Too many authentication failures|"
            r"^ERROR: Permission to .* denied|Your account is suspended|"
            r"This SSH key has been revoked|Authentication failed|"
            r"^ERROR: Use the SSH username",
        ),
        (
            FailureKind.NOT_FOUND,
            r"Repository not found|does not appear to be a git repository|"
            r"^fatal: '[^']*' does not exist|No such file or directory.*\.git|"
            r"repository .* not found|Could not find repository",
        ),
        (
            FailureKind.TIMEOUT,
            r"Connection timed out|Operation timed out|"
            r"timed out during banner exchange|Connection to .* timed out|"
            r"^timed out after \d+ s",
        ),
        (
            FailureKind.NETWORK,
            r"Connection refused|No route to host|Network is unreachable|"
            r"Could not resolve hostname|Name or service not known|"
            r"Temporary failure in name resolution|Connection reset by peer|"
            r"Connection closed by remote host|kex_exchange_identification|"
            r"Connection closed by \S+ port \d+$",
        ),
    )
)


def classify(exit_status: int | None, stderr: str) -> Classified:
    """The failure class of a git-over-ssh command that exited ``exit_status`` (None: it
    was killed after the time limit) having printed ``stderr``."""
    if exit_status == 0:
        raise InvalidInput("classify() is for failures; exit status 0 succeeded")
    text = stderr[-16384:]
    if exit_status is None:
        return Classified(FailureKind.TIMEOUT, _last_line(text) or "no answer in time")
    for kind, pattern in _RULES:
        match = pattern.search(text)
        if match:
            return Classified(kind, _line_of(text, match.start()))
    return Classified(FailureKind.OTHER, _last_line(text) or f"exit status {exit_status}")


def _line_of(text: str, index: int) -> str:
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    return _clean(text[start : end if end >= 0 else len(text)])


def _last_line(text: str) -> str:
    lines = [ln for ln in (_clean(x) for x in text.splitlines()) if ln]
    # git's closing "Could not read from remote repository" says less than what precedes it.
    useful = [ln for ln in lines if "Could not read from remote repository" not in ln]
    return (useful or lines or [""])[-1]


def _clean(line: str) -> str:
    printable = "".join(ch for ch in line if ch.isprintable())
    return printable.strip().strip("@").strip()[:300]


@dataclass(frozen=True)
class FixFacts:
    """What the fix lines name; every field is public information."""

    host_port: str  # host:port as `host pin` takes it
    public_line: str  # the connector's public key line
    presented: tuple[str, ...] = ()  # host key fingerprints the host showed
    pinned: tuple[str, ...] = ()
    timeout_seconds: int = 10
    org_url_hint: str | None = None  # an org-ID@ URL, when the host named one


def fix_for(kind: FailureKind, facts: FixFacts) -> str:
    """The one line that tells the person what to do."""
    shown = ", ".join(facts.presented) or "(none seen)"
    pin = f"gitward connector host pin {facts.host_port} --fingerprint "
    first = facts.presented[0] if facts.presented else "SHA256:..."
    match kind:
        case FailureKind.HOST_KEY_UNKNOWN:
            return (
                f"check {'that fingerprint' if len(facts.presented) == 1 else 'one of them'} "
                f"with the host's administrator, then run `{pin}{first}`"
            )
        case FailureKind.HOST_KEY_CHANGED:
            return (
                f"the host key of {facts.host_port} has CHANGED (pinned "
                f"{', '.join(facts.pinned)}, presented {shown}) and nothing was fetched; if the "
                f"change is expected, run `gitward connector host unpin {facts.host_port}` "
                f"and `{pin}{first}`"
            )
        case FailureKind.AUTH_REFUSED:
            return (
                "the host refused the connector's key: add this public key to the repository "
                f"as a deploy key or on a user's keys: {facts.public_line}"
            )
        case FailureKind.CERTIFICATE_REQUIRED:
            where = f" and use {facts.org_url_hint}" if facts.org_url_hint else ""
            return (
                "the host requires an SSH certificate: run `gitward connector key certify "
                f"--server URL --token TOKEN --org ORG`{where} (the org-ID@ URL of the "
                "repository)"
            )
        case FailureKind.NOT_FOUND:
            return (
                "the repository does not exist there, or the key may not see it: check the "
                "URL, and that the key was added to this repository"
            )
        case FailureKind.NETWORK:
            return (
                f"cannot connect to {facts.host_port}: check the host name and port, and "
                "that the host is up and reachable from this server"
            )
        case FailureKind.TIMEOUT:
            return (
                f"{facts.host_port} did not answer within {facts.timeout_seconds} s: check the "
                "port (is it SSH?) and any firewall between"
            )
        case FailureKind.NO_KEY:
            return "the connector has no key yet: run `gitward connector key generate`"
        case _:
            return "see the detail above; run `gitward connector test` again once it is fixed"


_ORG_URL: Final = re.compile(r"(?:ssh://)?\borg-\d+@[^\s)]+")


def org_url_in(stderr: str) -> str | None:
    """The org-ID@ URL a Gitward host names when an organization requires certificates."""
    match = _ORG_URL.search(stderr)
    return match.group(0) if match else None
