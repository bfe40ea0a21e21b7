"""certificate_subject and check_certificate: every rule, ok/ and fail/."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gitward.access import messages
from gitward.access.decision import Reason
from gitward.access.facts import NO_REVOCATIONS, RevocationFacts, TrustedCA, UserFacts
from gitward.access.identity import (
    MAX_LIFETIME,
    CertificateSubject,
    certificate_subject,
    check_certificate,
    signature_algorithm_allowed,
)
from gitward.ca.certificate import (
    FOREVER,
    HOST_CERT,
    Certificate,
    parse_certificate,
    parse_certificate_line,
)
from gitward.keys.fingerprint import sha256_fingerprint
from tests.access.world import (
    ALICE,
    CA_ACME,
    CA_ENTERPRISE,
    DAY,
    ENTERPRISE_KEY,
    HOST,
    ISSUED,
    NOW,
    cert,
    login,
)
from tests.ca.certbuilder import CertSpec, build, make_key, options, public_blob, sign, tbs

# --- certificate_subject ---------------------------------------------------------------

SUBJECTS: dict[str, tuple[tuple[tuple[str, str | None], ...], CertificateSubject]] = {
    "ok/login": ((login(),), CertificateSubject(login="alice")),
    "ok/id": (((f"id@{HOST}", "42"),), CertificateSubject(user_id=42)),
    "ok/login-and-id": ((login(), (f"id@{HOST}", "42")), CertificateSubject("alice", 42)),
    "ok/host-case-insensitive": ((login(host="GIT.Example.COM"),), CertificateSubject("alice")),
    "ok/other-hosts-ignored": (
        (login("bob", "github.com"), login(), login("carol", "other.example")),
        CertificateSubject(login="alice"),
    ),
    "ok/value-case-kept": ((login("Alice"),), CertificateSubject(login="Alice")),
    "fail/only-other-host": ((login(host="github.com"),), CertificateSubject()),
    "fail/host-suffix-is-not-ours": ((login(host="evil.git.example.com"),), CertificateSubject()),
    "fail/host-prefix-is-not-ours": ((login(host="git.example.com.evil"),), CertificateSubject()),
    "fail/no-extension": ((("no-touch-required", None),), CertificateSubject()),
    "fail/login-without-host": ((("login", "alice"),), CertificateSubject()),
    "fail/conflicting-logins": (
        (login("alice"), login("bob", host="GIT.EXAMPLE.COM")),
        CertificateSubject(invalid=True),
    ),
    "fail/id-not-a-number": (((f"id@{HOST}", "abc"),), CertificateSubject(invalid=True)),
    "fail/id-zero": (((f"id@{HOST}", "0"),), CertificateSubject(invalid=True)),
    "fail/id-negative": (((f"id@{HOST}", "-1"),), CertificateSubject(invalid=True)),
    "fail/id-leading-zero": (((f"id@{HOST}", "042"),), CertificateSubject(invalid=True)),
    "fail/id-with-space": (((f"id@{HOST}", " 42"),), CertificateSubject(invalid=True)),
    "fail/login-empty": ((login(""),), CertificateSubject(login="", invalid=True)),
    "fail/login-flag-no-value": (((f"login@{HOST}", None),), CertificateSubject("", invalid=True)),
    "fail/login-with-spaces": ((login(" alice"),), CertificateSubject(" alice", invalid=True)),
}


@pytest.mark.parametrize(("extensions", "expected"), SUBJECTS.values(), ids=SUBJECTS.keys())
def test_certificate_subject(
    extensions: tuple[tuple[str, str | None], ...], expected: CertificateSubject
) -> None:
    subject = certificate_subject(cert(*extensions), HOST)
    assert (subject.login, subject.user_id, subject.invalid) == (
        expected.login,
        expected.user_id,
        expected.invalid,
    )


def test_subject_lookup_prefers_id() -> None:
    assert CertificateSubject("alice", 42).lookup == ("id", 42)
    assert CertificateSubject("alice").lookup == ("login", "alice")
    assert CertificateSubject().lookup is None
    assert CertificateSubject("alice", invalid=True).lookup is None


def test_subject_hostname_trailing_dot_and_empty() -> None:
    assert certificate_subject(cert(), HOST + ".").login == "alice"
    # A misconfigured empty hostname matches nothing, not an extension named "login@".
    assert certificate_subject(cert(("login@", "alice")), "").lookup is None


# --- check_certificate -----------------------------------------------------------------

RSA_SIGNER = make_key("rsa", 1)
CA_RSA = TrustedCA(7, sha256_fingerprint(public_blob(RSA_SIGNER)), "org", 10)


def _check(
    certificate: Certificate,
    *,
    ca: TrustedCA | None = CA_ACME,
    user: UserFacts | None = ALICE,
    now: int = NOW,
    peer: str = "192.0.2.1",
    revocations: RevocationFacts = NO_REVOCATIONS,
) -> Any:
    return check_certificate(
        certificate, hostname=HOST, ca=ca, user=user, now=now, peer=peer, revocations=revocations
    )


def _cert_signed_by_cert() -> Certificate:
    # The CA field holds a (valid) certificate of acme's CA key, signed with that key.
    return parse_certificate_from(CertSpec(extensions=options(login()), signature_key=build()))


def parse_certificate_from(spec: CertSpec) -> Certificate:
    return parse_certificate(build(spec))


def _bad_signature() -> Certificate:
    spec = CertSpec(extensions=options(login()))
    other = sign(make_key("ed25519", 5), tbs(spec), "ssh-ed25519")
    return parse_certificate_from(spec.with_(signature=other))


CASES: dict[str, tuple[dict[str, Any], dict[str, Any], Reason]] = {
    # name: (certificate changes, _check arguments, expected reason)
    "ok/basic": ({}, {}, Reason.OK),
    "ok/at-valid-after": ({}, {"now": ISSUED}, Reason.OK),
    "ok/just-before-valid-before": ({}, {"now": ISSUED + DAY - 1}, Reason.OK),
    "ok/principals-omit-git": ({"principals": b""}, {}, Reason.OK),
    "ok/enterprise-ca": ({"signer": ENTERPRISE_KEY}, {"ca": CA_ENTERPRISE}, Reason.OK),
    "ok/rsa-sha2-512-ca": (
        {"signer": RSA_SIGNER, "signature_algorithm": "rsa-sha2-512"},
        {"ca": CA_RSA},
        Reason.OK,
    ),
    "ok/rsa-sha2-256-ca": (
        {"signer": RSA_SIGNER, "signature_algorithm": "rsa-sha2-256"},
        {"ca": CA_RSA},
        Reason.OK,
    ),
    "ok/lifetime-just-under-366-days": (
        {"valid_before": ISSUED + MAX_LIFETIME - 1},
        {},
        Reason.OK,
    ),
    "ok/force-command-is-for-authorize": (
        {"critical_options": options(("force-command", "git-upload-pack 'acme/app'"))},
        {},
        Reason.OK,
    ),
    "ok/source-address-match": (
        {"critical_options": options(("source-address", "192.0.2.0/24,::1"))},
        {},
        Reason.OK,
    ),
    "ok/source-address-mapped-peer": (
        {"critical_options": options(("source-address", "192.0.2.0/24"))},
        {"peer": "::ffff:192.0.2.1"},
        Reason.OK,
    ),
    "ok/unknown-extension-ignored": (
        {"extensions": options(login(), ("something@vendor", "x"))},
        {},
        Reason.OK,
    ),
    "ok/no-standard-extensions": ({"extensions": options(login())}, {}, Reason.OK),
    "ok/login-user-renamed-within-120s": (
        {},
        {"user": replace(ALICE, renamed_at=ISSUED + 120)},
        Reason.OK,
    ),
    "ok/login-user-created-within-120s": (
        {},
        {"user": replace(ALICE, created_at=ISSUED + 120)},
        Reason.OK,
    ),
    "ok/id-user-created-after-issue": (
        {"extensions": options((f"id@{HOST}", "100"))},
        {"user": replace(ALICE, created_at=ISSUED + DAY, renamed_at=ISSUED + DAY)},
        Reason.OK,
    ),
    "ok/login-and-id-renamed-after-issue": (
        {"extensions": options(login(), (f"id@{HOST}", "100"))},
        {"user": replace(ALICE, renamed_at=ISSUED + 600)},
        Reason.OK,
    ),
    "ok/login-case-insensitive": ({"extensions": options(login("ALICE"))}, {}, Reason.OK),
    "ok/revocations-for-others": (
        {},
        {
            "revocations": RevocationFacts(
                certificate_fingerprints=frozenset({"SHA256:x"}),
                key_fingerprints=frozenset({"SHA256:y"}),
                key_ids=frozenset({"bob@laptop"}),
                serials=frozenset({8}),
            )
        },
        Reason.OK,
    ),
    # signer
    "fail/unknown-ca": ({}, {"ca": None}, Reason.CERT_UNKNOWN_CA),
    "fail/removed-ca": ({}, {"ca": replace(CA_ACME, revoked=True)}, Reason.CERT_UNKNOWN_CA),
    "fail/ca-mismatch": ({}, {"ca": CA_ENTERPRISE}, Reason.CERT_CA_MISMATCH),
    "fail/sha1-ca-signature": (
        {"signer": RSA_SIGNER, "signature_algorithm": "ssh-rsa"},
        {"ca": CA_RSA},
        Reason.CERT_SHA1_SIGNATURE,
    ),
    # content
    "fail/host-certificate": ({"cert_type": HOST_CERT}, {}, Reason.CERT_NOT_USER),
    "fail/unknown-critical-option": (
        {"critical_options": options(("no-such-option@example.com", "x"))},
        {},
        Reason.CERT_UNKNOWN_CRITICAL_OPTION,
    ),
    "fail/extension-name-as-critical": (
        {"critical_options": options(("permit-pty", None))},
        {},
        Reason.CERT_UNKNOWN_CRITICAL_OPTION,
    ),
    "fail/verify-required": (
        {"critical_options": options(("verify-required", None))},
        {},
        Reason.CERT_VERIFY_REQUIRED,
    ),
    "fail/bad-source-address": (
        {"critical_options": options(("source-address", "10.0.0.0/8, bad"))},
        {},
        Reason.CERT_BAD_SOURCE_ADDRESS,
    ),
    "fail/forever": ({"valid_before": FOREVER}, {}, Reason.CERT_LIFETIME_TOO_LONG),
    "fail/lifetime-366-days": (
        {"valid_before": ISSUED + 366 * DAY},
        {},
        Reason.CERT_LIFETIME_TOO_LONG,
    ),
    "fail/lifetime-10-years": (
        {"valid_before": ISSUED + 3650 * DAY},
        {},
        Reason.CERT_LIFETIME_TOO_LONG,
    ),
    # standing
    "fail/revoked-serial": (
        {},
        {"revocations": RevocationFacts(serials=frozenset({7}))},
        Reason.CERT_REVOKED,
    ),
    "fail/revoked-key-id": (
        {},
        {"revocations": RevocationFacts(key_ids=frozenset({"alice@laptop"}))},
        Reason.CERT_REVOKED,
    ),
    "fail/not-yet-valid": ({}, {"now": ISSUED - 1}, Reason.CERT_NOT_YET_VALID),
    "fail/expired-at-valid-before": ({}, {"now": ISSUED + DAY}, Reason.CERT_EXPIRED),
    "fail/expired-long-ago": ({}, {"now": ISSUED + 100 * DAY}, Reason.CERT_EXPIRED),
    "fail/inverted-window-before": (
        {"valid_after": ISSUED + 10, "valid_before": ISSUED},
        {"now": ISSUED + 5},
        Reason.CERT_NOT_YET_VALID,
    ),
    "fail/inverted-window-after": (
        {"valid_after": ISSUED + 10, "valid_before": ISSUED},
        {"now": ISSUED + 10},
        Reason.CERT_EXPIRED,
    ),
    "fail/source-address-mismatch": (
        {"critical_options": options(("source-address", "10.0.0.0/8"))},
        {},
        Reason.CERT_SOURCE_ADDRESS,
    ),
    "fail/source-address-v6-peer": (
        {"critical_options": options(("source-address", "192.0.2.1"))},
        {"peer": "2001:db8::1"},
        Reason.CERT_SOURCE_ADDRESS,
    ),
    "fail/source-address-bad-peer": (
        {"critical_options": options(("source-address", "0.0.0.0/0"))},
        {"peer": "unknown"},
        Reason.CERT_SOURCE_ADDRESS,
    ),
    # user
    "fail/no-subject": ({"extensions": options(("permit-pty", None))}, {}, Reason.CERT_NO_SUBJECT),
    "fail/other-host-only": (
        {"extensions": options(login(host="github.com"))},
        {},
        Reason.CERT_NO_SUBJECT,
    ),
    "fail/principals-do-not-name-user": (
        {"extensions": options(("permit-pty", None)), "principals": b"\0\0\0\x05alice"},
        {},
        Reason.CERT_NO_SUBJECT,
    ),
    "fail/unknown-user": ({}, {"user": None}, Reason.CERT_UNKNOWN_USER),
    "fail/login-names-other-user": (
        {"extensions": options(login("bob"))},
        {},
        Reason.CERT_SUBJECT_MISMATCH,
    ),
    "fail/id-names-other-user": (
        {"extensions": options((f"id@{HOST}", "101"))},
        {},
        Reason.CERT_SUBJECT_MISMATCH,
    ),
    "fail/login-and-id-disagree": (
        {"extensions": options(login(), (f"id@{HOST}", "101"))},
        {},
        Reason.CERT_SUBJECT_MISMATCH,
    ),
    "fail/suspended": ({}, {"user": replace(ALICE, suspended=True)}, Reason.USER_SUSPENDED),
    "fail/user-created-61s-after-issue": (
        {},
        {"user": replace(ALICE, created_at=ISSUED + 121)},
        Reason.CERT_USER_TOO_NEW,
    ),
    "fail/user-renamed-61s-after-issue": (
        {},
        {"user": replace(ALICE, renamed_at=ISSUED + 121)},
        Reason.CERT_USER_TOO_NEW,
    ),
}


@pytest.mark.parametrize(("changes", "args", "reason"), CASES.values(), ids=CASES.keys())
def test_check_certificate(changes: dict[str, Any], args: dict[str, Any], reason: Reason) -> None:
    if "extensions" not in changes:
        changes = {**changes, "extensions": options(login())}
    decision = _check(parse_certificate_from(CertSpec().with_(**changes)), **args)
    assert decision.reason == reason, decision.log_line
    assert decision.allowed is (reason == Reason.OK)
    if decision.allowed:
        assert decision.message == ""
    else:
        assert decision.message


def test_fail_signing_key_is_certificate() -> None:
    decision = _check(_cert_signed_by_cert())
    assert decision.reason == Reason.CERT_CA_IS_CERTIFICATE and not decision.allowed


def test_fail_bad_signature() -> None:
    decision = _check(_bad_signature())
    assert decision.reason == Reason.CERT_BAD_SIGNATURE and not decision.allowed


def test_fail_revoked_certificate_and_key() -> None:
    c = cert()
    by_cert = RevocationFacts(certificate_fingerprints=frozenset({c.fingerprint}))
    by_key = RevocationFacts(key_fingerprints=frozenset({c.public_key_fingerprint}))
    for revocations in (by_cert, by_key):
        decision = _check(c, revocations=revocations)
        assert decision.reason == Reason.CERT_REVOKED
        assert decision.message == messages.CERT_REVOKED


EXPLAINED = {
    "fail/expired": ({}, {"now": ISSUED + DAY}, messages.CERT_EXPIRED),
    "fail/not-yet-valid": ({}, {"now": ISSUED - 1}, messages.CERT_NOT_YET_VALID),
    "fail/address": (
        {"critical_options": options(("source-address", "10.0.0.0/8"))},
        {},
        messages.CERT_SOURCE_ADDRESS,
    ),
    "fail/revoked": (
        {},
        {"revocations": RevocationFacts(serials=frozenset({7}))},
        messages.CERT_REVOKED,
    ),
}


@pytest.mark.parametrize(("changes", "args", "message"), EXPLAINED.values(), ids=EXPLAINED.keys())
def test_explainable_messages(changes: dict[str, Any], args: dict[str, Any], message: str) -> None:
    decision = _check(cert(**changes), **args)
    assert decision.message == message
    assert decision.explainable


def test_explainable_messages_are_the_specified_texts() -> None:
    assert messages.CERT_EXPIRED == "This SSH certificate has expired."
    assert messages.CERT_NOT_YET_VALID == "This SSH certificate is not yet valid."
    assert messages.CERT_SOURCE_ADDRESS == "This SSH certificate may not be used from this address."
    assert messages.CERT_REVOKED == "This SSH certificate has been revoked."


@pytest.mark.parametrize(
    "args",
    [{"ca": None}, {"user": None}, {"user": replace(ALICE, created_at=NOW)}],
    ids=["fail/unknown-ca-not-explained", "fail/unknown-user-not-explained", "fail/too-new"],
)
def test_probing_refusals_are_generic(args: dict[str, Any]) -> None:
    decision = _check(cert(), **args)
    assert not decision.allowed and not decision.explainable
    assert decision.message == messages.CERT_REFUSED


def test_order_intrinsic_checks_before_user_checks() -> None:
    # An expired certificate for a user that does not exist says "expired" either way,
    # so the answer never reveals whether the user exists.
    expired = _check(cert(), now=ISSUED + DAY, user=None)
    assert expired.reason == Reason.CERT_EXPIRED
    # An unregistered CA is refused before anything about time or users is said.
    assert _check(cert(), ca=None, now=ISSUED + DAY).reason == Reason.CERT_UNKNOWN_CA
    # Revocation wins over expiry.
    revoked = RevocationFacts(serials=frozenset({7}))
    assert _check(cert(), now=ISSUED + DAY, revocations=revoked).reason == Reason.CERT_REVOKED


def test_allowed_detail_for_audit_log() -> None:
    decision = _check(cert())
    assert decision.allowed and decision.reason == Reason.OK
    assert "ca=1" in decision.log_line and "user=100" in decision.log_line


# --- vectors from ssh-keygen, through the whole check ---------------------------------

CERTS = Path(__file__).resolve().parent.parent / "vectors" / "certs"
JAN_2026 = 1767225600 + 3600
OLD_ALICE = UserFacts(7, "alice", created_at=1)


def _vector(name: str) -> Certificate:
    return parse_certificate_line((CERTS / f"{name}-cert.pub").read_text())


def _vector_ca(key: str) -> TrustedCA:
    lines = (CERTS / "fingerprints.txt").read_text().splitlines()
    fingerprint = dict(line.split(" ", 1) for line in lines)[key]
    return TrustedCA(50, fingerprint, "org", 10)


VECTORS = {
    "ok/vector-ed25519": ("ed25519_by_ed25519", "ca_ed25519", Reason.OK),
    "ok/vector-rsa-subject": ("rsa_by_ed25519", "ca_ed25519", Reason.OK),
    "ok/vector-rsa-sha512-ca": ("ed25519_by_rsa_sha512", "ca_rsa", Reason.OK),
    "ok/vector-rsa-sha256-ca": ("ed25519_by_rsa_sha256", "ca_rsa", Reason.OK),
    "ok/vector-ecdsa521-ca": ("ed25519_by_ecdsa521", "ca_ecdsa521", Reason.OK),
    "fail/vector-sha1-ca": ("ed25519_by_rsa_sha1", "ca_rsa", Reason.CERT_SHA1_SIGNATURE),
    "fail/vector-verify-required": ("options", "ca_ed25519", Reason.CERT_VERIFY_REQUIRED),
    "fail/vector-unknown-critical": (
        "unknown_critical",
        "ca_ed25519",
        Reason.CERT_UNKNOWN_CRITICAL_OPTION,
    ),
    "fail/vector-forever": ("forever", "ca_ed25519", Reason.CERT_LIFETIME_TOO_LONG),
    "fail/vector-host": ("host", "ca_ed25519", Reason.CERT_NOT_USER),
    "fail/vector-wrong-ca": ("ed25519_by_ecdsa256", "ca_ecdsa384", Reason.CERT_CA_MISMATCH),
}


@pytest.mark.parametrize(("name", "ca", "reason"), VECTORS.values(), ids=VECTORS.keys())
def test_vectors(name: str, ca: str, reason: Reason) -> None:
    decision = check_certificate(
        _vector(name),
        hostname=HOST,
        ca=_vector_ca(ca),
        user=OLD_ALICE,
        now=JAN_2026,
        peer="10.1.1.1",
        revocations=NO_REVOCATIONS,
    )
    assert decision.reason == reason, decision.log_line


# --- signature algorithms (the transport's check for user signatures) -----------------

ALGS = {
    "ok/ed25519": ("ssh-ed25519", True),
    "ok/rsa-sha2-256": ("rsa-sha2-256", True),
    "ok/rsa-sha2-512": ("rsa-sha2-512", True),
    "ok/ecdsa-256": ("ecdsa-sha2-nistp256", True),
    "ok/ecdsa-521": ("ecdsa-sha2-nistp521", True),
    "ok/cert-rsa-sha2-512": ("rsa-sha2-512-cert-v01@openssh.com", True),
    "ok/cert-ed25519": ("ssh-ed25519-cert-v01@openssh.com", True),
    "fail/ssh-rsa-sha1": ("ssh-rsa", False),
    "fail/ssh-rsa-cert-sha1": ("ssh-rsa-cert-v01@openssh.com", False),
    "fail/dss": ("ssh-dss", False),
    "fail/sk": ("sk-ssh-ed25519@openssh.com", False),
    "fail/empty": ("", False),
    "fail/case": ("SSH-ED25519", False),
}


@pytest.mark.parametrize(("algorithm", "allowed"), ALGS.values(), ids=ALGS.keys())
def test_signature_algorithm_allowed(algorithm: str, allowed: bool) -> None:
    assert signature_algorithm_allowed(algorithm) is allowed
