"""Failure classes from what ssh, git and Git hosts really print (captured from the tools:
OpenSSH 9.2, git 2.39, git-shell, Gitward's own refusals), and every class's fix."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitward.connector.failures import FailureKind, FixFacts, classify, fix_for, org_url_in
from gitward.errors import GitwardError

READ = "fatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n"  # noqa: E501

CAPTURED = {
    "unknown-host-key": (
        "No ED25519 host key is known for [127.0.0.1]:2310 and you have requested strict "
        "checking.\r\nHost key verification failed.\r\n" + READ,
        FailureKind.HOST_KEY_UNKNOWN,
    ),
    "changed-host-key": (
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
        "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n"
        "Host key verification failed.\r\n" + READ,
        FailureKind.HOST_KEY_CHANGED,
    ),
    "auth-refused": (
        "git@127.0.0.1: Permission denied (publickey).\r\n" + READ,
        FailureKind.AUTH_REFUSED,
    ),
    "gitward-not-found": ("ERROR: Repository not found.\n" + READ, FailureKind.NOT_FOUND),
    "git-shell-not-found": (
        "fatal: '/srv/nope.git' does not appear to be a git repository\n" + READ,
        FailureKind.NOT_FOUND,
    ),
    "gitward-requires-certificates": (
        "ERROR: The acme organization requires SSH certificates. Run `gitward login` or ask "
        "an administrator of acme for one, then use the SSH username org-3 "
        "(ssh://org-3@gitward.test:2310/acme/app.git).\n" + READ,
        FailureKind.CERTIFICATE_REQUIRED,
    ),
    "gitward-cert-expired": (
        "ERROR: This SSH certificate has expired.\n" + READ,
        FailureKind.CERTIFICATE_REQUIRED,
    ),
    "refused-port": (
        "ssh: connect to host 127.0.0.1 port 9: Connection refused\r\n" + READ,
        FailureKind.NETWORK,
    ),
    "banner-timeout": (
        "Connection timed out during banner exchange\r\nConnection to 127.0.0.1 port 2311 "
        "timed out\r\n" + READ,
        FailureKind.TIMEOUT,
    ),
    "dns": (
        "ssh: Could not resolve hostname nope.invalid: Name or service not known\r\n" + READ,
        FailureKind.NETWORK,
    ),
    "too-many": (
        "Received disconnect from 127.0.0.1 port 2310:2: Too many authentication "
        "failures\r\nDisconnected from 127.0.0.1 port 2310\r\n" + READ,
        FailureKind.AUTH_REFUSED,
    ),
    "other": ("fatal: protocol error: bad line length character: HTTP\n", FailureKind.OTHER),
}


@pytest.mark.parametrize("name", CAPTURED)
def test_classify_captured_texts(name: str) -> None:
    stderr, kind = CAPTURED[name]
    found = classify(128, stderr)
    assert found.kind is kind
    assert "\r" not in found.detail and found.detail


def test_killed_after_the_time_limit_is_a_timeout() -> None:
    assert classify(None, "").kind is FailureKind.TIMEOUT


FACTS = FixFacts(
    "git.example.com:22",
    "ssh-ed25519 AAAAC3Nz connector",
    ("SHA256:new",),
    ("SHA256:old",),
    10,
    "org-3@git.example.com:acme/app.git",
)


@pytest.mark.parametrize("kind", list(FailureKind))
def test_every_class_has_a_one_line_fix(kind: FailureKind) -> None:
    fix = fix_for(kind, FACTS)
    assert fix and "\n" not in fix


def test_fixes_name_what_to_do() -> None:
    assert "host pin git.example.com:22 --fingerprint SHA256:new" in fix_for(
        FailureKind.HOST_KEY_UNKNOWN, FACTS
    )
    changed = fix_for(FailureKind.HOST_KEY_CHANGED, FACTS)
    assert "SHA256:old" in changed and "SHA256:new" in changed and "unpin" in changed
    auth = fix_for(FailureKind.AUTH_REFUSED, FACTS)
    assert "as a deploy key or on a user's keys" in auth and FACTS.public_line in auth
    assert "key certify" in fix_for(FailureKind.CERTIFICATE_REQUIRED, FACTS)
    assert org_url_in(CAPTURED["gitward-requires-certificates"][0]) == (
        "ssh://org-3@gitward.test:2310/acme/app.git"
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.integers(-300, 300)), st.text(max_size=400))
def test_any_output_gives_a_class_or_a_gitward_error(status: int | None, text: str) -> None:
    try:
        found = classify(status, text)
    except GitwardError:
        assert status == 0
        return
    assert isinstance(found.kind, FailureKind) and "\n" not in found.detail
