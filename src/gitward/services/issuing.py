"""The issuing service: a user with an access token gets a certificate for their own key.

``Issuer.issue`` (what ``POST /api/v1/ssh/certificates`` calls), in one transaction:

 1. authenticate the token (scope ``cert:issue``; the user not suspended)
 2. validate the public key (the upload rules: not a private key, not a certificate, not
    too weak) and refuse a revoked key
 3. pick the organization (named, or the caller's only one with a managed CA); the caller
    must be a member of it
 4. pick the CA: the organization's newest managed CA not retired, else its enterprise's
 5. the lifetime: the request's (an interval, ``1d``) or the default, at most the
    organization's cap (24 h unless set; always under 366 days); like ``ssh-keygen -V
    +1d``, valid_after is backdated to the start of the minute at least 59 s ago, for
    clients whose clocks run a little behind (the cap applies to now -> valid_before);
    never past the CA's retirement
 6. options: only restrictions from an allowlist (``no-pty``, ``force-command=...``,
    ``source-address=...``, ...); ``bind_source_address`` adds the caller's own address
 7. allocate the serial (the inventory row's id), sign, record, audit.

The certificate names its user with ``login@HOSTNAME=USERNAME`` and ``id@HOSTNAME=USERID``
(HOSTNAME = settings.hostname), principal USERNAME, key id ``USERNAME-SERIAL``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
from dataclasses import dataclass, field, replace
from typing import Final

from gitward.ca.certificate import Certificate
from gitward.ca.sign import (
    CertificateRequest,
    CertOptions,
    CustomOption,
    PrivateKeySigner,
    apply_option,
    sign_certificate,
)
from gitward.ca.validity import parse_interval, parse_validity
from gitward.errors import CertificateError, GitwardError, InvalidInput, PermissionDenied
from gitward.keys.upload import KeyPurpose, UploadedKey, validate_public_key_upload
from gitward.services import ca_secret, managed_ca, revocation, tokens
from gitward.services.context import Context
from gitward.services.views import View
from gitward.store.db import Session, transaction
from gitward.store.models import (
    CertificateAuthority,
    IssuedCertificate,
    ManagedCAKey,
    Organization,
    User,
)
from gitward.store.queries import accounts, audit, certificates

# Restrictions a caller may add to their own certificate. Everything else (permit-*,
# extension:/critical: custom options, verify-required, clear) is refused: the issuer
# decides what a certificate grants, the caller may only narrow it.
ALLOWED_OPTIONS: Final = (
    "no-x11-forwarding",
    "no-agent-forwarding",
    "no-port-forwarding",
    "no-pty",
    "no-user-rc",
    "force-command=",
    "source-address=",
)
MAX_OPTIONS: Final = 16
MAX_SOURCE_ADDRESSES: Final = 64  # entries in one source-address option


class NoManagedCA(GitwardError):
    """The organization has no CA the server can sign with (HTTP 409)."""


class IssuingDisabled(GitwardError):
    """The deployment has no CA secret: everything but issuing works (HTTP 503)."""


class LifetimeTooLong(InvalidInput):
    """The requested validity exceeds the organization's cap (HTTP 422)."""


class OptionNotAllowed(InvalidInput):
    """A certificate option outside the allowlist (HTTP 422)."""


class KeyRevoked(PermissionDenied):
    """The key asked to be certified is revoked (HTTP 403)."""


@dataclass(frozen=True)
class IssueRequest:
    public_key: str
    organization: str | None = None
    validity: str | None = None
    bind_source_address: bool = False
    options: tuple[str, ...] = ()
    peer: str | None = None  # the caller's address, as the transport saw it


@dataclass(frozen=True)
class IssuedView(View):
    serial: int
    key_id: str
    certificate: str
    certificate_fingerprint: str
    public_key_fingerprint: str
    ca_fingerprint: str
    user: str
    user_id: int | None
    principals: list[str]
    valid_after: dt.datetime
    valid_before: dt.datetime
    critical_options: dict[str, str]
    extensions: dict[str, str]
    requester_address: str | None
    organization_id: int | None
    created_at: dt.datetime

    @classmethod
    def of(cls, row: IssuedCertificate) -> IssuedView:
        assert row.serial is not None and row.certificate is not None  # set before commit
        assert row.certificate_fingerprint is not None
        return cls(
            row.serial,
            row.key_id,
            row.certificate,
            row.certificate_fingerprint,
            row.public_key_fingerprint,
            row.ca_fingerprint,
            row.username,
            row.user_id,
            json.loads(row.principals),
            row.valid_after,
            row.valid_before,
            json.loads(row.critical_options),
            json.loads(row.extensions),
            row.requester_address,
            row.organization_id,
            row.created_at,
        )


@dataclass(frozen=True)
class IssueResult:
    """What the API returns: the certificate and how to use it."""

    issued: IssuedView
    organization: str
    hostname: str
    ssh_port: int

    @property
    def ssh_user(self) -> str:
        return f"org-{self.issued.organization_id}"

    def to_json(self) -> dict[str, object]:
        return {
            **self.issued.to_json(),
            "organization": {"id": self.issued.organization_id, "name": self.organization},
            "hostname": self.hostname,
            "ssh_port": self.ssh_port,
            "ssh_user": self.ssh_user,
            "clone_prefix": f"{self.ssh_user}@{self.hostname}",
        }


@dataclass
class Issuer:
    """Signs for the HTTP API. Decrypted CA keys are cached per CA: the secret and the
    sealed key do not change under a running process (a removed or retired CA is excluded
    by the query before the cache is consulted)."""

    ctx: Context
    _secret: bytes = field(init=False, repr=False)
    _signers: dict[tuple[int, str], PrivateKeySigner] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Refuse to start without a secret (PostgreSQL needs it from the settings).
        self._secret = ca_secret.load_secret(self.ctx.settings)

    def issue(self, token: str | None, request: IssueRequest) -> IssueResult:
        now = self.ctx.now()
        with transaction(self.ctx.engine) as session:
            caller = tokens.authenticate(session, token, now, tokens.SCOPE_ISSUE)
            return self._issue(session, caller.user, caller.token.id, request, now)

    def issue_as(self, user_id: int, request: IssueRequest) -> IssueResult:
        """Issue for a user signed in to the web UI (no token: the browser session is the
        proof, checked by the transport); the same rules otherwise."""
        now = self.ctx.now()
        with transaction(self.ctx.engine) as session:
            user = accounts.user_by_id(session, user_id)
            if user is None or user.suspended:
                raise PermissionDenied("your account is suspended", cause=f"user {user_id}")
            return self._issue(session, user, None, request, now)

    def _issue(
        self,
        session: Session,
        user: User,
        token_id: int | None,
        request: IssueRequest,
        now: dt.datetime,
    ) -> IssueResult:
        ctx = self.ctx
        key = validate_public_key_upload(request.public_key.encode("utf-8"), KeyPurpose.USER)
        options = _options(request, user, ctx.settings.hostname)
        org, found = _organization(session, user, request.organization, now)
        ca, managed = _certificate_authority(session, org, found, key)
        valid_after, valid_before = _validity(request.validity, org, ctx, now, ca)
        row = IssuedCertificate(
            key_id="",
            ca_id=ca.id,
            ca_fingerprint=ca.fingerprint,
            user_id=user.id,
            username=user.username,
            organization_id=org.id,
            principals=json.dumps([user.username]),
            valid_after=_at(valid_after),
            valid_before=_at(valid_before),
            critical_options="{}",
            extensions="{}",
            requester_address=request.peer,
            public_key_fingerprint=key.fingerprint,
            created_at=now,
        )
        session.add(row)
        session.flush()  # the id is the serial
        serial = row.id
        cert = sign_certificate(
            CertificateRequest(
                public_key=key.blob,
                key_id=f"{user.username}-{serial}",
                valid_after=valid_after,
                valid_before=valid_before,
                serial=serial,
                principals=(user.username,),
            ).with_options(options),
            self._signer(ca, managed),
        )
        _fill(row, cert)
        audit.append_event(
            session,
            at=now,
            actor=user.username,
            action="cert.issue",
            target=f"{org.name}",
            peer=request.peer,
            detail={
                "serial": serial,
                "ca": ca.fingerprint,
                "key": key.fingerprint,
                "token_id": token_id,
                "valid_before": _at(valid_before),
            },
        )
        return IssueResult(
            IssuedView.of(row), org.name, ctx.settings.hostname, ctx.settings.ssh_port
        )

    def list_for(self, token: str | None, *, valid_now: bool = False) -> list[IssuedView]:
        """The caller's own certificates; every certificate for a site admin."""
        return list_issued(self.ctx, token, valid_now=valid_now)

    def _signer(self, ca: CertificateAuthority, managed: ManagedCAKey) -> PrivateKeySigner:
        cache_key = (ca.id, ca.fingerprint)
        with self._lock:
            signer = self._signers.get(cache_key)
        if signer is None:
            signer = PrivateKeySigner(managed_ca.open_private_key(self._secret, managed, ca))
            with self._lock:
                self._signers[cache_key] = signer
        return signer


def list_issued(ctx: Context, token: str | None, *, valid_now: bool = False) -> list[IssuedView]:
    """GET /api/v1/ssh/certificates; needs no CA secret, so it works with issuing disabled."""
    now = ctx.now()
    with transaction(ctx.engine) as session:
        caller = tokens.authenticate(
            session, token, now, tokens.SCOPE_READ, also=(tokens.SCOPE_ISSUE,)
        )
        user_id = None if caller.user.site_admin else caller.user.id
        rows = certificates.issued_certificates(
            session, user_id=user_id, valid_at=now if valid_now else None, limit=1000
        )
        return [IssuedView.of(r) for r in rows]


def _at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _fill(row: IssuedCertificate, cert: Certificate) -> None:
    row.serial = cert.serial
    row.key_id = cert.key_id
    row.critical_options = json.dumps(dict(cert.critical_options), sort_keys=True)
    row.extensions = json.dumps(dict(cert.extensions), sort_keys=True)
    row.certificate = cert.to_line()
    row.certificate_fingerprint = cert.fingerprint


def _options(request: IssueRequest, user: User, hostname: str) -> CertOptions:
    if len(request.options) > MAX_OPTIONS:
        raise OptionNotAllowed(f"at most {MAX_OPTIONS} options")
    state = CertOptions.for_type(1)
    for text in request.options:
        lowered = text.lower()
        if not any(
            lowered == o or (o.endswith("=") and lowered.startswith(o)) for o in ALLOWED_OPTIONS
        ):
            shown = text if len(text) <= 60 and text.isprintable() else repr(text[:60])
            raise OptionNotAllowed(
                f"the option {shown!r} is not allowed: choose from "
                + ", ".join(o + ("..." if o.endswith("=") else "") for o in ALLOWED_OPTIONS)
            )
        if lowered.startswith("source-address=") and text.count(",") >= MAX_SOURCE_ADDRESSES:
            raise OptionNotAllowed(f"at most {MAX_SOURCE_ADDRESSES} source-address entries")
        try:
            state = apply_option(state, text)
        except CertificateError as exc:
            raise OptionNotAllowed(exc.message, cause=exc.cause) from exc
    if request.bind_source_address:
        if state.source_address is not None:
            raise OptionNotAllowed("give either source-address= or bind_source_address, not both")
        if not request.peer:
            raise InvalidInput("the caller's address is unknown, so it cannot be bound")
        state = replace(state, source_address=_plain_address(request.peer))
    subject = (
        CustomOption(f"id@{hostname}", str(user.id), critical=False),
        CustomOption(f"login@{hostname}", user.username, critical=False),
    )
    return replace(state, custom=(*state.custom, *subject))


def _plain_address(peer: str) -> str:
    """The peer as source-address wants it: an IPv4-mapped IPv6 address as plain IPv4."""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError as exc:
        raise InvalidInput("the caller's address cannot be bound", cause=peer) from exc
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _organization(
    session: Session, user: User, name: str | None, now: dt.datetime
) -> tuple[Organization, tuple[CertificateAuthority, ManagedCAKey] | None]:
    """The organization to issue for, and its signing CA if there is one."""
    if name is not None:
        org = accounts.org_by_name(session, name)
        # The same answer whether or not the organization exists: no probing for names.
        if org is None or accounts.membership(session, org.id, user.id) is None:
            raise PermissionDenied(
                f"you are not a member of an organization named {name[:39]!r}",
                cause=f"user {user.id}: org {name!r} missing or not a member",
            )
        return org, _pick_ca(session, org, now)
    candidates = [
        (org, found)
        for org in certificates.orgs_of_user(session, user.id)
        if (found := _pick_ca(session, org, now)) is not None
    ]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise NoManagedCA(
            "none of your organizations has a certificate authority this server signs with"
        )
    names = ", ".join(o.name for o, _ in candidates[:10])
    raise InvalidInput(f"name the organization: you belong to several that issue ({names})")


def _pick_ca(
    session: Session, org: Organization, now: dt.datetime
) -> tuple[CertificateAuthority, ManagedCAKey] | None:
    found = certificates.newest_active_managed_ca(session, organization_id=org.id, now=now)
    if found is None and org.enterprise_id is not None:
        found = certificates.newest_active_managed_ca(
            session, enterprise_id=org.enterprise_id, now=now
        )
    return found


def _certificate_authority(
    session: Session,
    org: Organization,
    found: tuple[CertificateAuthority, ManagedCAKey] | None,
    key: UploadedKey,
) -> tuple[CertificateAuthority, ManagedCAKey]:
    """The CA that signs, after one query for revocations of the key or of the CA."""
    candidates = [key.fingerprint, revocation.sha1_fingerprint(key.blob)]
    if found is not None:
        candidates.append(found[0].fingerprint)
    revoked = revocation.revoked_key_fingerprints(session, candidates)
    if key.fingerprint in revoked or candidates[1] in revoked:
        raise KeyRevoked(
            "this key is revoked: generate a new key", cause=f"revoked key {key.fingerprint}"
        )
    if found is None or found[0].fingerprint in revoked:
        raise NoManagedCA(
            f"the organization {org.name} has no certificate authority this server signs "
            f"with: an administrator can create one with `gitward ca create --org {org.name}`"
        )
    return found


def _validity(
    spec: str | None,
    org: Organization,
    ctx: Context,
    now: dt.datetime,
    ca: CertificateAuthority,
) -> tuple[int, int]:
    cap = managed_ca.max_lifetime(org)
    if spec is None:
        seconds = min(ctx.settings.issuer_default_lifetime, cap)
    else:
        text = spec.strip()
        seconds = parse_interval(text[1:] if text.startswith("+") else text, spec)
        if seconds < 60:
            raise InvalidInput("the validity must be at least one minute (60s)")
        if seconds > cap:
            raise LifetimeTooLong(
                f"the validity {text[:20]} is longer than {org.name} allows "
                f"({_human(cap)}): ask for {_human(cap)} or less"
            )
    stamp = int(now.timestamp())
    valid_after, valid_before = parse_validity(f"+{seconds}", stamp)
    if ca.retired_at is not None:
        # A certificate must not outlive the trust in its CA.
        valid_before = min(valid_before, int(ca.retired_at.timestamp()))
    return valid_after, valid_before


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
