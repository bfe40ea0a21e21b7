"""Properties: the policy is total (never raises) and every "allowed" satisfies every rule."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gitward.access import messages
from gitward.access.decide import authorize, ca_trusted_by_repo_org, parse_ssh_username
from gitward.access.facts import (
    NO_REVOCATIONS,
    CertificateCredential,
    Credential,
    DeployKeyCredential,
    Permission,
    RepoFacts,
    RevocationFacts,
    UserFacts,
    UserKeyCredential,
)
from gitward.access.identity import (
    MAX_LIFETIME,
    RENAME_GRACE,
    certificate_subject,
    check_certificate,
)
from gitward.ca.certificate import FOREVER, parse_certificate
from gitward.ca.options import KNOWN_CRITICAL_OPTIONS
from gitward.errors import CertificateError
from gitward.git.commands import parse_git_command
from tests.access.world import (
    ACME_APP,
    ACME_SECURE,
    ALICE,
    ALICE_FORK,
    BOB_REPO,
    CA_ACME,
    CA_ENTERPRISE,
    CA_OTHER,
    HOST,
    ISSUED,
    OTHER_APP,
    SIBLING_APP,
    credential,
)
from tests.ca.certbuilder import build, options

EXTENSION_NAMES = [
    f"login@{HOST}",
    f"id@{HOST}",
    f"LOGIN@{HOST.upper()}",
    "login@github.com",
    "id@github.com",
    "permit-pty",
    "login@",
    "x@y",
]
CRITICAL_NAMES = [*sorted(KNOWN_CRITICAL_OPTIONS), "unknown@example.com", "permit-pty"]
VALUES = st.sampled_from(
    [
        *("alice", "ALICE", "bob", "100", "101", "0", "", " alice"),
        *("10.0.0.0/8", "192.0.2.0/24,::1", "git-upload-pack 'acme/app'", "garbage, x"),
    ]
)
TIMES = st.one_of(
    st.integers(ISSUED - 400 * 86400, ISSUED + 400 * 86400),
    st.sampled_from([0, FOREVER, ISSUED, ISSUED + MAX_LIFETIME]),
)
USERS = st.one_of(
    st.just(ALICE),
    st.none(),
    st.builds(
        UserFacts,
        id=st.sampled_from([100, 101]),
        username=st.sampled_from(["alice", "bob", "Alice"]),
        created_at=st.one_of(st.just(ISSUED - 86400), TIMES),
        renamed_at=st.one_of(st.none(), TIMES),
        suspended=st.booleans(),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    # Each strategy leans towards a valid value, so "allowed" is reached often enough.
    extensions=st.one_of(
        st.just({f"login@{HOST}": "alice"}),
        st.dictionaries(st.sampled_from(EXTENSION_NAMES), st.one_of(st.none(), VALUES)),
    ),
    critical=st.one_of(
        st.just({}),
        st.dictionaries(st.sampled_from(CRITICAL_NAMES), st.one_of(st.none(), VALUES)),
    ),
    valid_after=st.one_of(st.just(ISSUED), TIMES),
    lifetime=st.one_of(
        st.just(86400),
        st.integers(-10, 3 * 86400),
        st.sampled_from([MAX_LIFETIME - 1, MAX_LIFETIME, FOREVER]),
    ),
    cert_type=st.sampled_from([1, 1, 1, 2]),
    now_offset=st.one_of(st.integers(0, 3600), st.integers(-100, 4 * 86400), TIMES),
    user=USERS,
    peer=st.sampled_from(["192.0.2.1", "10.1.1.1", "::1", "::ffff:10.0.0.1", "bogus"]),
    revoke_serial=st.sampled_from([False, False, False, True]),
)
def test_check_certificate_total_and_sound(
    extensions: dict[str, str | None],
    critical: dict[str, str | None],
    valid_after: int,
    lifetime: int,
    cert_type: int,
    now_offset: int,
    user: UserFacts | None,
    peer: str,
    revoke_serial: bool,
) -> None:
    valid_before = max(0, min(FOREVER, valid_after + lifetime))
    now = valid_after + now_offset
    try:
        cert = parse_certificate(
            build(
                extensions=options(*extensions.items()),
                critical_options=options(*critical.items()),
                valid_after=valid_after,
                valid_before=valid_before,
                cert_type=cert_type,
            )
        )
    except CertificateError:
        return
    revocations = RevocationFacts(serials=frozenset({7})) if revoke_serial else NO_REVOCATIONS
    decision = check_certificate(
        cert, hostname=HOST, ca=CA_ACME, user=user, now=now, peer=peer, revocations=revocations
    )
    assert decision.allowed == (decision.message == "")
    if not decision.allowed:
        return
    event("allowed")  # shown by --hypothesis-show-statistics
    # Everything the rules demand of an accepted certificate holds.
    assert user is not None and not user.suspended and not revoke_serial
    assert cert.is_user_certificate
    assert cert.valid_after <= now < cert.valid_before
    assert cert.valid_before != FOREVER and cert.valid_before - cert.valid_after < MAX_LIFETIME
    assert set(cert.critical_options) <= {"force-command", "source-address"}
    subject = certificate_subject(cert, HOST)
    assert subject.lookup is not None
    if subject.user_id is not None:
        assert subject.user_id == user.id
    else:
        assert max(user.created_at, user.renamed_at or 0) <= cert.valid_after + RENAME_GRACE
    if subject.login is not None:
        assert subject.login.lower() == user.username.lower()


REPOS = [ACME_APP, ACME_SECURE, OTHER_APP, ALICE_FORK, BOB_REPO, SIBLING_APP]
PERMISSIONS: list[Permission | None] = [None, "read", "write", "admin"]
CREDENTIALS: list[Credential] = [
    UserKeyCredential(ALICE),
    UserKeyCredential(replace(ALICE, suspended=True)),
    DeployKeyCredential(1),
    DeployKeyCredential(2, write=True),
    credential(CA_ACME),
    credential(CA_ENTERPRISE),
    credential(CA_OTHER),
    replace(credential(CA_ACME), ca=replace(CA_ACME, revoked=True)),
]


@settings(max_examples=500, deadline=None)
@given(
    cred=st.sampled_from(CREDENTIALS),
    username=st.one_of(
        st.sampled_from(["git", "org-10", "org-20", "org-30", "org-99", "org-100", "root"]),
        st.text(max_size=12),
    ),
    service=st.sampled_from(["git-upload-pack", "git-receive-pack", "git-upload-archive"]),
    repo=st.one_of(st.none(), st.sampled_from(REPOS)),
    permission=st.sampled_from(PERMISSIONS),
)
def test_authorize_total_and_sound(
    cred: Credential,
    username: str,
    service: str,
    repo: RepoFacts | None,
    permission: Permission | None,
) -> None:
    command = parse_git_command(f"{service} 'acme/app'")
    decision = authorize(
        cred, ssh_username=username, command=command, repo=repo, permission=permission
    )
    assert decision.allowed == (decision.message == "")
    if not decision.allowed:
        return
    parsed = parse_ssh_username(username)
    assert parsed is not None and repo is not None
    if parsed.org_id is not None:
        assert isinstance(cred, CertificateCredential)
        assert repo.owner_kind == "org" and repo.owner_id == parsed.org_id
    if isinstance(cred, DeployKeyCredential):
        assert cred.repo_id == repo.id
        assert command.operation == "read" or cred.write
        return
    assert not cred.user.suspended and permission is not None
    if command.operation == "write":
        assert permission in ("write", "admin")
    if isinstance(cred, CertificateCredential):
        assert ca_trusted_by_repo_org(cred.ca, repo)
    else:
        assert not repo.org_requires_certificates or repo.owner_kind == "user"


@settings(max_examples=200, deadline=None)
@given(
    cred=st.sampled_from(CREDENTIALS),
    service=st.sampled_from(["git-upload-pack", "git-receive-pack"]),
    permission=st.sampled_from(PERMISSIONS),
)
def test_missing_repo_is_always_not_found_unless_refused_earlier(
    cred: Credential, service: str, permission: Permission | None
) -> None:
    command = parse_git_command(f"{service} 'acme/app'")
    decision = authorize(
        cred, ssh_username="git", command=command, repo=None, permission=permission
    )
    assert not decision.allowed
    assert decision.message in (messages.REPOSITORY_NOT_FOUND, messages.ACCOUNT_SUSPENDED)
