"""A small world of facts shared by the access tests.

enterprise 5 ── org acme (10) ── repos acme/app (1), acme/secure (2, requires certs)
             └─ org sibling (30) ── repo sibling/app (6)
org other (20, no enterprise) ── repo other/app (3)
user alice (100) ── repo alice/app (4, a fork)        user bob (101) ── bob/x (5)

CA 1 belongs to acme, CA 2 to enterprise 5, CA 3 to other.
"""

from __future__ import annotations

from typing import Any

from gitward.access.facts import (
    CertificateCredential,
    RepoFacts,
    TrustedCA,
    UserFacts,
)
from gitward.ca.certificate import Certificate, parse_certificate
from gitward.keys.fingerprint import sha256_fingerprint
from tests.ca.certbuilder import STANDARD_EXTENSIONS, build, make_key, options, public_blob

HOST = "git.example.com"
ISSUED = 1_700_000_000  # valid_after of the default certificate
NOW = ISSUED + 3600
DAY = 86400

ACME_KEY = make_key("ed25519", 1)  # the certbuilder's default signer
ENTERPRISE_KEY = make_key("nistp256", 11)
OTHER_KEY = make_key("ed25519", 12)

CA_ACME = TrustedCA(1, sha256_fingerprint(public_blob(ACME_KEY)), "org", 10)
CA_ENTERPRISE = TrustedCA(2, sha256_fingerprint(public_blob(ENTERPRISE_KEY)), "enterprise", 5)
CA_OTHER = TrustedCA(3, sha256_fingerprint(public_blob(OTHER_KEY)), "org", 20)

ALICE = UserFacts(100, "alice", created_at=ISSUED - 365 * DAY)
BOB = UserFacts(101, "bob", created_at=ISSUED - 365 * DAY)

ACME_APP = RepoFacts(1, "org", 10, "acme", "app", org_enterprise_id=5)
ACME_SECURE = RepoFacts(
    2, "org", 10, "acme", "secure", org_requires_certificates=True, org_enterprise_id=5
)
OTHER_APP = RepoFacts(3, "org", 20, "other", "app")
ALICE_FORK = RepoFacts(4, "user", 100, "alice", "app")
BOB_REPO = RepoFacts(5, "user", 101, "bob", "x")
SIBLING_APP = RepoFacts(6, "org", 30, "sibling", "app", org_enterprise_id=5)


def login(user: str = "alice", host: str = HOST) -> tuple[str, str]:
    return (f"login@{host}", user)


def cert(*extra: tuple[str, str | None], **changes: Any) -> Certificate:
    """A user certificate from acme's CA naming alice, unless ``changes`` say otherwise.

    ``extra`` extensions replace the default ``login@HOST=alice`` when given.
    """
    extensions = extra or (login(),)
    changes.setdefault("extensions", options(*STANDARD_EXTENSIONS, *extensions))
    return parse_certificate(build(**changes))


def credential(
    ca: TrustedCA = CA_ACME, user: UserFacts = ALICE, **changes: Any
) -> CertificateCredential:
    signer = {1: ACME_KEY, 2: ENTERPRISE_KEY, 3: OTHER_KEY}[ca.ca_id]
    changes.setdefault("signer", signer)
    return CertificateCredential(user=user, ca=ca, cert=cert(**changes))
