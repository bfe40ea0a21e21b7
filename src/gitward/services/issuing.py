"""The issuing service: a user with an access token gets a certificate for their own key.

``Issuer.issue`` (what ``POST /api/v1/ssh/certificates`` calls): steps 1-6 from one read
(store/queries/issuing.py: token, user, organization, CA and revocations in one statement)
and checks in memory; step 7 in a transaction shared with the requests waiting at that
moment (group commit, services/group_commit.py); the caller gets its certificate only
after that transaction has committed:

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
 7. allocate the serial (the inventory row's id), sign, record, audit; a failed commit
    answers an error to every request of the batch and hands out no certificate.

The certificate names its user with ``login@HOSTNAME=USERNAME`` and ``id@HOSTNAME=USERID``
(HOSTNAME = settings.hostname), principal USERNAME, key id ``USERNAME-SERIAL``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

import structlog

from gitward import metrics
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
from gitward.services.group_commit import GroupCommit
from gitward.services.views import View
from gitward.store.db import StoreUnavailable, core_read, core_transaction, transaction
from gitward.store.models import IssuedCertificate
from gitward.store.queries import audit, certificates
from gitward.store.queries import issuing as queries_issuing

# Restrictions a caller may add to their own certificate. Everything else (permit-*,
# extension:/critical: custom options, verify-required, clear) is refused: the issuer
# decides what a certificate grants, the caller may only narrow it.
log = structlog.get_logger("gitward.issuing")

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

    def to_json(self) -> dict[str, object]:
        # View.to_json without asdict's deep copy (the issuing API's hot path): the lists
        # and dicts are copied one level, which is all they have.
        out: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            elif isinstance(value, list | dict):
                value = value.copy()
            out[name] = value
        return out

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


@dataclass(frozen=True)
class _Pending:
    """A request checked and ready to sign: everything but the serial, which the inventory
    row's id gives inside the group's transaction."""

    row: dict[str, object]  # the inventory columns known before the serial
    request: CertificateRequest  # serial and key id filled in at commit
    signer: PrivateKeySigner
    org_name: str
    token_id: int | None
    now: dt.datetime


@dataclass
class Issuer:
    """Signs for the HTTP API.

    The hot path (``issue``): one Core SQL query reads the token, the user, the
    organization, the CA that signs and the revocations that matter (services ->
    store/queries/issuing.py); the request is checked in memory; then the group commit
    (services/group_commit.py) inserts the inventory rows, signs and audits for every
    request waiting at that moment in one transaction. ``_recorded`` runs once per
    certificate after that commit: the one place a certificate becomes issued.

    Decrypted CA keys are cached per process, keyed by the CA's id, fingerprint and its
    sealed key's creation time: a removed, retired or revoked CA is excluded by the
    query of every request before the cache is consulted."""

    ctx: Context
    max_batch: int = 64
    window: float = 0.002
    _secret: bytes = field(init=False, repr=False)
    _signers: dict[tuple[int, str, object], PrivateKeySigner] = field(
        default_factory=dict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _group: GroupCommit[_Pending, IssueResult] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Refuse to start without a secret (PostgreSQL needs it from the settings).
        self._secret = ca_secret.load_secret(self.ctx.settings)
        self._group = GroupCommit(self._commit, max_batch=self.max_batch, window=self.window)

    def issue(self, token: str | None, request: IssueRequest) -> IssueResult:
        with self._group.announce() as submit:
            return self._issue_token(token, request, submit)

    def _issue_token(
        self, token: str | None, request: IssueRequest, submit: Callable[[_Pending], IssueResult]
    ) -> IssueResult:
        now = self.ctx.now()
        digest = tokens.token_digest(token)
        key, key_error = _parse_key(request.public_key)
        with core_read(self.ctx.engine) as conn:
            facts = queries_issuing.issuing_facts(
                conn,
                token_hash=digest,
                organization=request.organization,
                key_fingerprints=_key_fingerprints(key),
                now=now,
            )
        # compare_digest is belt and braces: the lookup is by hash, so timing reveals nothing.
        if not facts or not hmac.compare_digest(facts[0].token_hash or "", digest):
            raise tokens.Unauthenticated(tokens.BAD_TOKEN, cause="unknown token")
        first = facts[0]
        assert first.token_id is not None
        tokens.check_token(
            first.token_id,
            first.token_revoked_at,
            first.token_expires_at,
            first.user_id,
            first.user_suspended,
            now,
        )
        tokens.check_scope(first.token_id, first.token_scopes, tokens.SCOPE_ISSUE)
        return submit(self._prepare(facts, first.token_id, key, key_error, request, now))

    def issue_as(self, user_id: int, request: IssueRequest) -> IssueResult:
        """Issue for a user signed in to the web UI (no token: the browser session is the
        proof, checked by the transport); the same rules otherwise."""
        now = self.ctx.now()
        key, key_error = _parse_key(request.public_key)
        with core_read(self.ctx.engine) as conn:
            facts = queries_issuing.issuing_facts(
                conn,
                user_id=user_id,
                organization=request.organization,
                key_fingerprints=_key_fingerprints(key),
                now=now,
            )
        if not facts or facts[0].user_suspended:
            raise PermissionDenied("your account is suspended", cause=f"user {user_id}")
        return self._group.submit(self._prepare(facts, None, key, key_error, request, now))

    def _prepare(
        self,
        facts: list[queries_issuing.IssuingFacts],
        token_id: int | None,
        key: UploadedKey | None,
        key_error: GitwardError | None,
        request: IssueRequest,
        now: dt.datetime,
    ) -> _Pending:
        """Check the request against the facts read; what the group commit records."""
        ctx = self.ctx
        if key is None:
            assert key_error is not None
            raise key_error
        user = facts[0]
        options = _options(request, user.user_id, user.username, ctx.settings.hostname)
        chosen = _organization(facts, request.organization)
        _check_revocations(chosen, key)
        assert chosen.org_id is not None and chosen.org_name is not None
        assert chosen.ca_id is not None and chosen.ca_fingerprint is not None
        valid_after, valid_before = _validity(request.validity, chosen, ctx, now)
        return _Pending(
            row={
                "key_id": "",
                "ca_id": chosen.ca_id,
                "ca_fingerprint": chosen.ca_fingerprint,
                "user_id": user.user_id,
                "username": user.username,
                "organization_id": chosen.org_id,
                "principals": json.dumps([user.username]),
                "valid_after": _at(valid_after),
                "valid_before": _at(valid_before),
                "critical_options": "{}",
                "extensions": "{}",
                "requester_address": request.peer,
                "public_key_fingerprint": key.fingerprint,
                "created_at": now,
            },
            request=CertificateRequest(
                public_key=key.blob,
                key_id="",
                valid_after=valid_after,
                valid_before=valid_before,
                principals=(user.username,),
            ).with_options(options),
            signer=self._signer(chosen),
            org_name=chosen.org_name,
            token_id=token_id,
            now=now,
        )

    def list_for(self, token: str | None, *, valid_now: bool = False) -> list[IssuedView]:
        """The caller's own certificates; every certificate for a site admin."""
        return list_issued(self.ctx, token, valid_now=valid_now)

    # --- the group's transaction -------------------------------------------------------

    def _commit(self, batch: Sequence[_Pending]) -> list[IssueResult | BaseException]:
        """Record, sign and audit a batch in one transaction; if that fails for a reason
        that may be one request's (not the database being unreachable), each request is
        tried alone so one bad request does not fail the others."""
        try:
            results: list[IssueResult | BaseException] = list(self._write(batch))
        except StoreUnavailable:
            raise
        except GitwardError:
            if len(batch) == 1:
                raise
            results = []
            for pending in batch:
                try:
                    results.extend(self._write([pending]))
                except GitwardError as exc:
                    results.append(exc)
        for result in results:
            if not isinstance(result, BaseException):
                try:
                    self._recorded(result)
                except Exception:  # the certificate is recorded: its caller gets it anyway
                    log.exception("issuing.recorded_hook_failed", serial=result.issued.serial)
        return results

    def _recorded(self, result: IssueResult) -> None:
        """Called once for every certificate, after the transaction that records it has
        committed (and before its caller gets it): metrics go here."""
        metrics.certificate_issued(result.organization, result.issued.ca_fingerprint)

    def _write(self, batch: Sequence[_Pending]) -> list[IssueResult]:
        settings = self.ctx.settings
        results: list[IssueResult] = []
        with core_transaction(self.ctx.engine) as conn:
            # PostgreSQL: the serials from the id sequence, then one insert of complete
            # rows. SQLite: insert the rows to get their ids, then fill them in (the same
            # transaction, so no committed row lacks its certificate).
            ids = queries_issuing.allocate_ids(conn, len(batch))
            placeholders = ids is None
            if ids is None:
                ids = queries_issuing.insert_placeholders(conn, [p.row for p in batch])
            fills: list[dict[str, object]] = []
            events: list[dict[str, object]] = []
            for pending, serial in zip(batch, ids, strict=True):
                username = str(pending.row["username"])
                cert = sign_certificate(
                    replace(pending.request, serial=serial, key_id=f"{username}-{serial}"),
                    pending.signer,
                )
                fill = {
                    "row_id": serial,
                    "serial": cert.serial,
                    "key_id": cert.key_id,
                    "critical_options": json.dumps(dict(cert.critical_options), sort_keys=True),
                    "extensions": json.dumps(dict(cert.extensions), sort_keys=True),
                    "certificate": cert.to_line(),
                    "certificate_fingerprint": cert.fingerprint,
                }
                fills.append(fill)
                events.append(
                    audit.event_values(
                        at=pending.now,
                        actor=username,
                        action="cert.issue",
                        target=pending.org_name,
                        peer=pending.row["requester_address"],  # type: ignore[arg-type]
                        detail={
                            "serial": serial,
                            "ca": pending.row["ca_fingerprint"],
                            "key": pending.row["public_key_fingerprint"],
                            "token_id": pending.token_id,
                            "valid_before": pending.row["valid_before"],
                        },
                    )
                )
                results.append(
                    IssueResult(
                        _view(pending.row, fill),
                        pending.org_name,
                        settings.hostname,
                        settings.ssh_port,
                    )
                )
            if placeholders:
                queries_issuing.fill_certificates(conn, fills)
            else:
                queries_issuing.insert_certificates(
                    conn,
                    [
                        {
                            **p.row,
                            **{k: v for k, v in f.items() if k != "row_id"},
                            "id": f["row_id"],
                        }
                        for p, f in zip(batch, fills, strict=True)
                    ],
                )
            queries_issuing.append_events(conn, events)
        return results  # committed: the with block above has ended

    def _signer(self, facts: queries_issuing.IssuingFacts) -> PrivateKeySigner:
        assert facts.ca_id is not None and facts.ca_fingerprint is not None
        cache_key = (facts.ca_id, facts.ca_fingerprint, facts.managed_key_created_at)
        with self._lock:
            signer = self._signers.get(cache_key)
        if signer is None:
            with core_read(self.ctx.engine) as conn:
                found = queries_issuing.managed_key(conn, facts.ca_id)
            if found is None or found[1] != facts.ca_fingerprint:
                raise NoManagedCA(
                    f"the organization {facts.org_name} has no certificate authority this "
                    "server signs with",
                    cause=f"CA {facts.ca_id} removed while issuing",
                )
            signer = PrivateKeySigner(
                managed_ca.open_sealed_key(self._secret, found[0], facts.ca_fingerprint)
            )
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


def _view(row: dict[str, object], fill: dict[str, object]) -> IssuedView:
    return IssuedView(
        serial=int(fill["serial"]),  # type: ignore[call-overload]
        key_id=str(fill["key_id"]),
        certificate=str(fill["certificate"]),
        certificate_fingerprint=str(fill["certificate_fingerprint"]),
        public_key_fingerprint=str(row["public_key_fingerprint"]),
        ca_fingerprint=str(row["ca_fingerprint"]),
        user=str(row["username"]),
        user_id=row["user_id"],  # type: ignore[arg-type]
        principals=json.loads(str(row["principals"])),
        valid_after=row["valid_after"],  # type: ignore[arg-type]
        valid_before=row["valid_before"],  # type: ignore[arg-type]
        critical_options=json.loads(str(fill["critical_options"])),
        extensions=json.loads(str(fill["extensions"])),
        requester_address=row["requester_address"],  # type: ignore[arg-type]
        organization_id=row["organization_id"],  # type: ignore[arg-type]
        created_at=row["created_at"],  # type: ignore[arg-type]
    )


def _parse_key(text: str) -> tuple[UploadedKey | None, GitwardError | None]:
    """The uploaded key, or the error to answer once the caller is authenticated (an
    unauthenticated caller learns nothing about its key)."""
    try:
        return validate_public_key_upload(text.encode("utf-8"), KeyPurpose.USER), None
    except GitwardError as exc:
        return None, exc


def _key_fingerprints(key: UploadedKey | None) -> list[str]:
    if key is None:
        return []
    return [key.fingerprint, revocation.sha1_fingerprint(key.blob)]


def _options(request: IssueRequest, user_id: int, username: str, hostname: str) -> CertOptions:
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
        CustomOption(f"id@{hostname}", str(user_id), critical=False),
        CustomOption(f"login@{hostname}", username, critical=False),
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
    facts: list[queries_issuing.IssuingFacts], name: str | None
) -> queries_issuing.IssuingFacts:
    """The organization to issue for (its row of facts, with its signing CA if any)."""
    user = facts[0]
    if name is not None:
        # The same answer whether or not the organization exists: no probing for names.
        named = [f for f in facts if f.org_id is not None]
        if not named:
            raise PermissionDenied(
                f"you are not a member of an organization named {name[:39]!r}",
                cause=f"user {user.user_id}: org {name!r} missing or not a member",
            )
        return named[0]
    candidates = [f for f in facts if f.org_id is not None and f.ca_id is not None]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise NoManagedCA(
            "none of your organizations has a certificate authority this server signs with"
        )
    names = ", ".join(str(f.org_name) for f in candidates[:10])
    raise InvalidInput(f"name the organization: you belong to several that issue ({names})")


def _check_revocations(chosen: queries_issuing.IssuingFacts, key: UploadedKey) -> None:
    """The key must not be revoked, nor the CA that would sign (both read by the facts
    query, with the same semantics as revocation.revoked_key_fingerprints)."""
    if chosen.key_revoked:
        raise KeyRevoked(
            "this key is revoked: generate a new key", cause=f"revoked key {key.fingerprint}"
        )
    if chosen.ca_id is None or chosen.ca_revoked:
        org = chosen.org_name
        raise NoManagedCA(
            f"the organization {org} has no certificate authority this server signs "
            f"with: an administrator can create one with `gitward ca create --org {org}`"
        )


def _validity(
    spec: str | None,
    org: queries_issuing.IssuingFacts,
    ctx: Context,
    now: dt.datetime,
) -> tuple[int, int]:
    cap = org.org_max_lifetime or managed_ca.DEFAULT_MAX_LIFETIME
    if spec is None:
        seconds = min(ctx.settings.issuer_default_lifetime, cap)
    else:
        text = spec.strip()
        seconds = parse_interval(text[1:] if text.startswith("+") else text, spec)
        if seconds < 60:
            raise InvalidInput("the validity must be at least one minute (60s)")
        if seconds > cap:
            raise LifetimeTooLong(
                f"the validity {text[:20]} is longer than {org.org_name} allows "
                f"({_human(cap)}): ask for {_human(cap)} or less"
            )
    stamp = int(now.timestamp())
    valid_after, valid_before = parse_validity(f"+{seconds}", stamp)
    if org.ca_retired_at is not None:
        # A certificate must not outlive the trust in its CA.
        valid_before = min(valid_before, int(org.ca_retired_at.timestamp()))
    return valid_after, valid_before


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
