"""Who a user certificate speaks for, and whether we accept it (pure, two steps).

The transport does::

    subject = certificate_subject(cert, hostname)          # login@HOST / id@HOST
    user = <look up subject.lookup in the database>        # None when no such user
    ca = <registered CA whose fingerprint is cert.signature_key_fingerprint, or None>
    decision = check_certificate(cert, hostname=..., ca=ca, user=user, now=..., peer=...,
                                 revocations=<loaded for ca>)

The user is named by the extension ``login@HOSTNAME=USERNAME`` or ``id@HOSTNAME=USERID``
where HOSTNAME is our configured hostname; other hosts' extensions are ignored.
Principals are not used at all (neither to pick the user nor to refuse).

``check_certificate`` applies these checks in this order; the first failure decides.
Certificate-intrinsic checks come before anything about users, so the answer for a
certificate never depends on whether the user it names exists.

 1. a CA is registered for the signing key and not revoked/removed   cert.unknown_ca
 2. the signing key is not itself a certificate                     cert.ca_is_certificate
 3. the CA given is the one whose key signed (transport sanity)     cert.ca_mismatch
 4. the CA signature does not use SHA-1 (``ssh-rsa``)               cert.sha1_signature
 5. the signature verifies                                          cert.bad_signature
 6. it is a user certificate                                        cert.not_user_certificate
 7. no unknown critical option                                      cert.unknown_critical_option
 8. no ``verify-required`` (no FIDO user verification yet)          cert.verify_required_...
 9. ``source-address``, if present, parses                          cert.bad_source_address
10. it expires, and lives less than 366 days                        cert.lifetime_too_long
11. neither it, its key, its key id, nor its serial is revoked      cert.revoked      *
12. valid_after <= now                                              cert.not_yet_valid *
13. now < valid_before                                              cert.expired      *
14. the peer address is in ``source-address``, if present           cert.source_address *
15. it names exactly one user for our hostname                      cert.no_subject
16. that user exists                                                cert.unknown_user
17. the user found is the one named (id and/or login)               cert.subject_mismatch
18. the user is not suspended                                       user.suspended    *
19. login@ only: the user was neither created nor renamed more
    than 120 s after valid_after (the name may then have belonged
    to someone else when the certificate was issued)                cert.user_newer_than_...

(*) refusals marked ``explainable``: their messages may be shown after authentication.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from gitward.access import messages
from gitward.access.decision import Decision, Reason, allow, deny
from gitward.access.facts import RevocationFacts, TrustedCA, UserFacts
from gitward.ca.certificate import Certificate, verify_certificate_signature
from gitward.ca.options import (
    SOURCE_ADDRESS,
    VERIFY_REQUIRED,
    parse_source_address,
    source_address_allows,
    unknown_critical_options,
)
from gitward.errors import CertificateError

MAX_LIFETIME: Final = 366 * 86400  # a certificate living this long or longer is refused
# Seconds a user may be created/renamed after valid_after. `ssh-keygen -V +1d` backdates
# valid_after to the start of the previous minute (OpenSSH 9.2, measured: signed at
# 20:50:41, valid from 20:49:00), i.e. by 60 to 119 s; a user created just before the
# certificate was signed must still be accepted.
RENAME_GRACE: Final = 120

# Signature algorithms accepted for user authentication and CA signatures. "ssh-rsa" (and
# its cert form) means RSA with SHA-1 and is refused; DSA and FIDO (sk-*) are unsupported.
ALLOWED_SIGNATURE_ALGORITHMS: Final = frozenset(
    {
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "rsa-sha2-256",
        "rsa-sha2-512",
        "ssh-ed25519-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "rsa-sha2-256-cert-v01@openssh.com",
        "rsa-sha2-512-cert-v01@openssh.com",
    }
)

_USER_ID = re.compile(r"[1-9][0-9]{0,18}")


def signature_algorithm_allowed(algorithm: str) -> bool:
    """Whether a signature algorithm is acceptable (refuses SHA-1 ``ssh-rsa``)."""
    return algorithm in ALLOWED_SIGNATURE_ALGORITHMS


_RSA_ALGORITHMS: Final = frozenset({"ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"})
_CERT_SUFFIX: Final = "-cert-v01@openssh.com"


def public_key_algorithm_fits(algorithm: str, key_type: str) -> bool:
    """Whether the algorithm a userauth request names fits the key it carries (RFC 4252
    section 7; RFC 8332 for RSA's SHA-2 names): ``ssh-ed25519`` for an Ed25519 key,
    ``rsa-sha2-256`` for an RSA key, ``rsa-sha2-512-cert-v01@openssh.com`` for an RSA
    certificate, and so on. OpenSSH refuses a request whose names disagree."""
    if algorithm == key_type:
        return True
    if key_type == "ssh-rsa":
        return algorithm in _RSA_ALGORITHMS
    if key_type == "ssh-rsa" + _CERT_SUFFIX and algorithm.endswith(_CERT_SUFFIX):
        return algorithm.removesuffix(_CERT_SUFFIX) in _RSA_ALGORITHMS
    return False


@dataclass(frozen=True)
class CertificateSubject:
    """The user a certificate names for our hostname (either or both forms may be set)."""

    login: str | None = None
    user_id: int | None = None
    invalid: bool = False  # conflicting values, or an id@ that is not a number

    @property
    def lookup(self) -> tuple[Literal["id"], int] | tuple[Literal["login"], str] | None:
        """What the transport should look the user up by: the id when present."""
        if self.invalid:
            return None
        if self.user_id is not None:
            return ("id", self.user_id)
        if self.login is not None:
            return ("login", self.login)
        return None


def certificate_subject(cert: Certificate, hostname: str) -> CertificateSubject:
    """Read ``login@HOSTNAME`` / ``id@HOSTNAME`` for our hostname (case-insensitive)."""
    host = _normal_host(hostname)
    if not host:  # a misconfigured empty hostname must not match "login@"
        return CertificateSubject()
    logins: set[str] = set()
    ids: set[str] = set()
    for name, value in cert.extensions.items():
        kind, at, ext_host = name.partition("@")
        if not at or _normal_host(ext_host) != host:
            continue
        if kind == "login":
            logins.add(value)
        elif kind == "id":
            ids.add(value)
    invalid = len(logins) > 1 or len(ids) > 1
    login = next(iter(logins)) if len(logins) == 1 else None
    raw_id = next(iter(ids)) if len(ids) == 1 else None
    if login is not None and (not login or login != login.strip()):
        invalid = True
    user_id = int(raw_id) if raw_id is not None and _USER_ID.fullmatch(raw_id) else None
    if raw_id is not None and user_id is None:
        invalid = True
    return CertificateSubject(login=login, user_id=user_id, invalid=invalid)


def check_certificate(
    cert: Certificate,
    *,
    hostname: str,
    ca: TrustedCA | None,
    user: UserFacts | None,
    now: int,
    peer: str,
    revocations: RevocationFacts,
) -> Decision:
    """Accept or refuse a user certificate; see the module docstring for the order."""
    problems = certificate_problems(
        cert, hostname=hostname, ca=ca, user=user, now=now, peer=peer, revocations=revocations
    )
    first = next(problems, None)
    if first is not None:
        return first
    assert ca is not None and user is not None  # guaranteed by the checks above
    return allow(f"ca={ca.ca_id} user={user.id} serial={cert.serial} key_id={cert.key_id!r}")


def certificate_problems(
    cert: Certificate,
    *,
    hostname: str,
    ca: TrustedCA | None,
    user: UserFacts | None,
    now: int,
    peer: str,
    revocations: RevocationFacts,
) -> Iterator[Decision]:
    """Every reason to refuse ``cert``, in the documented order (``gitward cert check``
    lists them all; authentication stops at the first)."""
    yield from _signer_problems(cert, ca)
    yield from _content_problems(cert)
    yield from _standing_problems(cert, now=now, peer=peer, revocations=revocations)
    yield from _user_problems(cert, certificate_subject(cert, hostname), user)


def _refuse(reason: Reason, detail: str) -> Decision:
    return deny(reason, messages.CERT_REFUSED, detail)


def _signer_problems(cert: Certificate, ca: TrustedCA | None) -> Iterator[Decision]:
    signer = cert.signature_key_fingerprint
    if ca is None or ca.revoked:
        yield _refuse(Reason.CERT_UNKNOWN_CA, f"signer={signer}")
    if cert.signature_key_is_certificate:
        yield _refuse(Reason.CERT_CA_IS_CERTIFICATE, f"signer type {cert.signature_key_type}")
    if ca is not None and ca.fingerprint != signer:
        yield _refuse(Reason.CERT_CA_MISMATCH, f"ca={ca.ca_id} signer={signer}")
    if not signature_algorithm_allowed(cert.signature_algorithm):
        yield _refuse(Reason.CERT_SHA1_SIGNATURE, f"algorithm {cert.signature_algorithm}")
    elif not verify_certificate_signature(cert):
        yield _refuse(Reason.CERT_BAD_SIGNATURE, f"signer={signer}")


def _content_problems(cert: Certificate) -> Iterator[Decision]:
    if not cert.is_user_certificate:
        yield _refuse(Reason.CERT_NOT_USER, f"cert type {cert.cert_type}")
    unknown = unknown_critical_options(cert.critical_options)
    if unknown:
        yield _refuse(Reason.CERT_UNKNOWN_CRITICAL_OPTION, ",".join(unknown)[:200])
    if VERIFY_REQUIRED in cert.critical_options:
        yield _refuse(Reason.CERT_VERIFY_REQUIRED, VERIFY_REQUIRED)
    if SOURCE_ADDRESS in cert.critical_options:
        try:
            parse_source_address(cert.critical_options[SOURCE_ADDRESS])
        except CertificateError as exc:
            yield _refuse(Reason.CERT_BAD_SOURCE_ADDRESS, exc.cause)
    if cert.never_expires or cert.valid_before - cert.valid_after >= MAX_LIFETIME:
        lifetime = "forever" if cert.never_expires else f"{cert.valid_before - cert.valid_after}s"
        yield _refuse(Reason.CERT_LIFETIME_TOO_LONG, lifetime)


def _standing_problems(
    cert: Certificate, *, now: int, peer: str, revocations: RevocationFacts
) -> Iterator[Decision]:
    revoked = _revoked_by(cert, revocations)
    if revoked:
        yield deny(Reason.CERT_REVOKED, messages.CERT_REVOKED, revoked, explainable=True)
    if now < cert.valid_after:
        detail = f"valid_after={cert.valid_after} now={now}"
        yield deny(Reason.CERT_NOT_YET_VALID, messages.CERT_NOT_YET_VALID, detail, explainable=True)
    if now >= cert.valid_before:
        detail = f"valid_before={cert.valid_before} now={now}"
        yield deny(Reason.CERT_EXPIRED, messages.CERT_EXPIRED, detail, explainable=True)
    if SOURCE_ADDRESS in cert.critical_options:
        try:
            networks = parse_source_address(cert.critical_options[SOURCE_ADDRESS])
        except CertificateError:
            return  # already reported as cert.bad_source_address
        if not source_address_allows(networks, peer):
            detail = f"peer={peer}"
            yield deny(
                Reason.CERT_SOURCE_ADDRESS, messages.CERT_SOURCE_ADDRESS, detail, explainable=True
            )


def _revoked_by(cert: Certificate, revocations: RevocationFacts) -> str:
    """Which revocation matches, for the log ("" when none does)."""
    if cert.fingerprint in revocations.certificate_fingerprints:
        return f"certificate {cert.fingerprint}"
    if cert.public_key_fingerprint in revocations.key_fingerprints:
        return f"key {cert.public_key_fingerprint}"
    if cert.key_id in revocations.key_ids:
        return f"key_id {cert.key_id!r}"
    if cert.serial in revocations.serials:
        return f"serial {cert.serial}"
    return ""


def _user_problems(
    cert: Certificate, subject: CertificateSubject, user: UserFacts | None
) -> Iterator[Decision]:
    if subject.lookup is None:
        yield _refuse(Reason.CERT_NO_SUBJECT, "no valid login@/id@ extension for our host")
        return
    if user is None:
        yield _refuse(Reason.CERT_UNKNOWN_USER, f"subject {subject.lookup}")
        return
    if not _names_user(subject, user):
        yield _refuse(Reason.CERT_SUBJECT_MISMATCH, f"subject {subject.lookup} user={user.id}")
        return
    if user.suspended:
        yield deny(
            Reason.USER_SUSPENDED, messages.ACCOUNT_SUSPENDED, f"user={user.id}", explainable=True
        )
    if subject.user_id is None:  # named by login only: was the name already this user's?
        limit = cert.valid_after + RENAME_GRACE
        latest = max(user.created_at, user.renamed_at or user.created_at)
        if latest > limit:
            detail = f"user={user.id} created/renamed at {latest}, valid_after={cert.valid_after}"
            yield _refuse(Reason.CERT_USER_TOO_NEW, detail)


def _names_user(subject: CertificateSubject, user: UserFacts) -> bool:
    # Usernames compare case-insensitively, as the store looks them up.
    if subject.user_id is not None and subject.user_id != user.id:
        return False
    return subject.login is None or subject.login.lower() == user.username.lower()


def _normal_host(host: str) -> str:
    return host.strip().rstrip(".").lower()
