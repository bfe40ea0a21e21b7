"""The connector's one key pair: generate, import (every format ``gitward.keys`` reads),
show, certify with a Gitward issuing API, renew, and replace without a gap.

Replacing: a second key (generated or imported while one is active) is *pending*. Syncs
offer both keys, so nothing breaks while administrators add the new public key to the
hosts; ``connector test`` checks the pending key on every repository and, once every one
accepts it, makes it the active key and drops the old one. ``key show`` lists the
repositories that still accept only the old key.

At rest the private key is sealed with the deployment's CA secret (services/ca_secret.py)
under its own HKDF info and with associated data naming the key's fingerprint, so it opens
neither as a managed CA key nor when moved onto another row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

import structlog

from gitward.ca.certificate import parse_certificate_line
from gitward.errors import (
    ConfigurationError,
    GitwardError,
    InvalidInput,
    KeyFormatError,
    KeyRejected,
    NotFound,
    WrongPassphrase,
)
from gitward.git.outbound import Identity
from gitward.keys.api import export_private_key, export_public_key, inspect_key, load_private_key
from gitward.keys.diagnose import Target, diagnose
from gitward.keys.fingerprint import sha256_fingerprint
from gitward.keys.generate import generate_key as new_key
from gitward.keys.model import KeyInfo, PassphraseRequired, PrivateKey
from gitward.services import ca_secret
from gitward.services.context import Context
from gitward.services.issuing_client import request_certificate
from gitward.services.views import View
from gitward.settings import Settings
from gitward.store.db import Session, transaction
from gitward.store.models import ConnectorKey
from gitward.store.queries import connector as q

log = structlog.get_logger("gitward.connector")

ACTIVE: Final = "active"
PENDING: Final = "pending"
SEAL_INFO: Final = b"gitward connector v1"
KEY_COMMENT: Final = "gitward-connector"


def load_secret(settings: Settings) -> bytes:
    """The deployment's CA secret, which seals the connector's key, its certify token
    and the webhook secrets; saying what to set when it is missing (PostgreSQL)."""
    try:
        return ca_secret.load_secret(settings)
    except ConfigurationError as exc:
        raise ConfigurationError(
            "the connector seals its key with the CA secret: with PostgreSQL set "
            "ca_secret_file (GITWARD_CA_SECRET_FILE) or ca_secret, the same on every frontend",
            cause=exc.cause,
        ) from exc


def _key_ad(fingerprint: str) -> str:
    return f"connector-key:{fingerprint}"


def _token_ad(fingerprint: str) -> str:
    return f"connector-certify-token:{fingerprint}"


@dataclass(frozen=True)
class ConnectorKeyView(View):
    state: str
    public_key: str  # the line to add on a Git host
    key_type: str
    bits: int
    fingerprint: str
    created_at: dt.datetime
    certificate_valid_after: dt.datetime | None
    certificate_valid_before: dt.datetime | None
    certified_by: str | None
    certificate_organization: str | None
    certificate_renewal_error: str | None

    @classmethod
    def of(cls, row: ConnectorKey) -> ConnectorKeyView:
        return cls(
            row.state,
            row.public_key,
            row.key_type,
            row.bits,
            row.fingerprint,
            row.created_at,
            row.certificate_valid_after,
            row.certificate_valid_before,
            row.certify_server,
            row.certify_org,
            row.certify_error,
        )


@dataclass(frozen=True)
class KeyStatus(View):
    active: ConnectorKeyView | None
    pending: ConnectorKeyView | None
    # Repositories where the pending key has not been seen to work (yet): they still
    # accept only the old key, as far as the last `connector test` knows.
    old_key_only: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "active": self.active.to_json() if self.active else None,
            "pending": self.pending.to_json() if self.pending else None,
            "old_key_only": self.old_key_only,
        }


@dataclass(frozen=True)
class LoadedKey:
    identity: Identity
    public_line: str
    fingerprint: str


@dataclass(frozen=True)
class Identities:
    active: LoadedKey | None
    pending: LoadedKey | None

    @property
    def offered(self) -> list[Identity]:
        """What every sync offers: the active key (with its certificate), then the pending."""
        return [k.identity for k in (self.active, self.pending) if k is not None]


# ---- reading a key someone gives us -------------------------------------------------------

_CERT_SUFFIX: Final = b"-cert-v01@openssh.com"


@dataclass(frozen=True)
class PassphraseHint:
    """How the person gives a passphrase where they are: the causes are the same words
    everywhere; only this part of the fix differs (a flag, a form field, a JSON field)."""

    encrypted: str
    wrong: str


CLI_PASSPHRASE: Final = PassphraseHint(
    "with --passphrase-env VAR (or -P, visible to other users)", "with --passphrase-env VAR"
)


def read_private_key(
    data: bytes,
    passphrase: bytes | None,
    *,
    path: str = "KEY",
    hint: PassphraseHint = CLI_PASSPHRASE,
) -> PrivateKey:
    """A private key the connector can use, or one line naming the cause and the fix."""
    head = data.lstrip()[:200]
    if _CERT_SUFFIX in head.split(b" ", 1)[0]:
        raise KeyRejected(
            f"{path} is an SSH certificate, not a private key: import the private key file; "
            "`gitward connector key certify` gets the connector a certificate of its own"
        )
    try:
        info = inspect_key(data)
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc.message}", cause=exc.cause) from exc
    if not info.is_private:
        raise KeyRejected(
            f"{path} is a public key ({info.format}); import the private key (the file "
            "without .pub), or run `gitward connector key generate`"
        )
    try:
        key = load_private_key(data, passphrase)
    except PassphraseRequired as exc:
        raise PassphraseRequired(
            f"{path} is encrypted: give its passphrase {hint.encrypted}"
        ) from exc
    except WrongPassphrase as exc:
        raise WrongPassphrase(
            f"wrong passphrase: it does not open {path}; give the right one {hint.wrong}",
            cause=exc.cause,
        ) from exc
    opened = KeyInfo(info.format, True, info.encrypted, key.algorithm, key.public, key.comment)
    verdict = diagnose(opened, Target.GITWARD, path=path)
    if not verdict.usable:
        raise KeyRejected(
            f"{verdict.reason}: run `gitward connector key generate` instead (Ed25519), or "
            "import an Ed25519, ECDSA or RSA key of 2048 bits or more"
        )
    return key


# ---- generate / import ----------------------------------------------------------------


def generate(ctx: Context, key_type: str = "ed25519", bits: int | None = None) -> KeyStatus:
    if key_type not in ("ed25519", "rsa", "ecdsa"):
        raise InvalidInput(f"-t must be ed25519, rsa or ecdsa, not {key_type!r}")
    return _store(ctx, new_key(key_type, bits, KEY_COMMENT), "key.generate")


def import_key(
    ctx: Context,
    data: bytes,
    passphrase: bytes | None,
    *,
    path: str = "KEY",
    hint: PassphraseHint = CLI_PASSPHRASE,
) -> KeyStatus:
    key = read_private_key(data, passphrase, path=path, hint=hint)
    return _store(ctx, key.with_comment(KEY_COMMENT), "key.import")


def _store(ctx: Context, key: PrivateKey, action: str) -> KeyStatus:
    secret = load_secret(ctx.settings)
    public = key.public
    fingerprint = sha256_fingerprint(public.blob)
    sealed = ca_secret.seal(
        secret, export_private_key(key, "openssh"), _key_ad(fingerprint), info=SEAL_INFO
    )
    with transaction(ctx.engine) as session:
        active = q.key_in_state(session, ACTIVE)
        pending = q.key_in_state(session, PENDING)
        for existing in (active, pending):
            if existing is not None and existing.fingerprint == fingerprint:
                raise KeyRejected(f"this key is already the connector's {existing.state} key")
        if pending is not None:
            session.delete(pending)  # a newer replacement supersedes the untested one
            session.flush()
        repositories = q.list_repositories(session)
        # With no repository there is nothing to test the new key on: it takes over.
        state = PENDING if active is not None and repositories else ACTIVE
        if state == ACTIVE and active is not None:
            session.delete(active)
            session.flush()
        row = ConnectorKey(
            state=state,
            key_type=public.ssh_type,
            bits=public.bits,
            fingerprint=fingerprint,
            public_key=export_public_key(public).decode().strip(),
            sealed_private=sealed,
            created_at=ctx.now(),
        )
        session.add(row)
        for repo in repositories:
            repo.pending_key_accepted = None
        session.flush()
        ctx.audit(session, f"connector.{action}", fingerprint, state=state, type=row.key_type)
        return _status(session)


def _status(session: Session) -> KeyStatus:
    active = q.key_in_state(session, ACTIVE)
    pending = q.key_in_state(session, PENDING)
    waiting = (
        [r.name for r in q.list_repositories(session) if r.pending_key_accepted is not True]
        if pending is not None
        else []
    )
    return KeyStatus(
        ConnectorKeyView.of(active) if active else None,
        ConnectorKeyView.of(pending) if pending else None,
        waiting,
    )


def status(ctx: Context) -> KeyStatus:
    with transaction(ctx.engine) as session:
        return _status(session)


def promote_if_accepted_everywhere(ctx: Context) -> bool:
    """Make the pending key active once every repository accepts it (after a test)."""
    with transaction(ctx.engine) as session:
        pending = q.key_in_state(session, PENDING)
        if pending is None:
            return False
        repositories = q.list_repositories(session)
        if any(r.pending_key_accepted is not True for r in repositories):
            return False
        active = q.key_in_state(session, ACTIVE)
        if active is not None:
            session.delete(active)
            session.flush()
        pending.state = ACTIVE
        for repo in repositories:
            repo.pending_key_accepted = None
        ctx.audit(session, "connector.key.promote", pending.fingerprint)
        return True


# ---- using the key ------------------------------------------------------------------------


def _open(secret: bytes, row: ConnectorKey) -> LoadedKey:
    try:
        data = ca_secret.open_sealed(
            secret, row.sealed_private, _key_ad(row.fingerprint), info=SEAL_INFO
        )
    except ConfigurationError as exc:
        raise ConfigurationError(
            "the connector's key cannot be decrypted: the CA secret differs from the one it "
            "was stored with",
            cause=exc.cause,
        ) from exc
    private = load_private_key(data)
    if sha256_fingerprint(private.public.blob) != row.fingerprint:
        raise ConfigurationError(
            "the connector's stored key does not match its fingerprint", cause=row.fingerprint
        )
    return LoadedKey(Identity(data, row.certificate), row.public_key, row.fingerprint)


def load_identities(ctx: Context) -> Identities:
    with transaction(ctx.engine) as session:
        active = q.key_in_state(session, ACTIVE)
        pending = q.key_in_state(session, PENDING)
    if active is None and pending is None:
        return Identities(None, None)
    secret = load_secret(ctx.settings)
    return Identities(
        _open(secret, active) if active else None, _open(secret, pending) if pending else None
    )


def public_line(ctx: Context) -> str | None:
    with transaction(ctx.engine) as session:
        active = q.key_in_state(session, ACTIVE)
        return active.public_key if active else None


# ---- certificates --------------------------------------------------------------------------


def certify(
    ctx: Context,
    *,
    server: str,
    token: str,
    organization: str | None = None,
    validity: str | None = None,
) -> ConnectorKeyView:
    """Ask a Gitward issuing API to certify the active key, for the user the token
    belongs to (a machine user made for the connector: the certificate's login@ names
    it). The token is kept, sealed, to renew the certificate before it expires."""
    with transaction(ctx.engine) as session:
        row = q.key_in_state(session, ACTIVE)
        if row is None:
            raise NotFound("the connector has no key yet: run `gitward connector key generate`")
        line, fingerprint = row.public_key, row.fingerprint
    answer = _issue(server, token, line, organization, validity)
    secret = load_secret(ctx.settings)
    sealed_token = ca_secret.seal(secret, token.encode(), _token_ad(fingerprint), info=SEAL_INFO)
    with transaction(ctx.engine) as session:
        row = q.key_in_state(session, ACTIVE)
        if row is None or row.fingerprint != fingerprint:
            raise InvalidInput("the connector's key changed meanwhile: run key certify again")
        _apply_certificate(row, answer)
        row.certify_server = server.rstrip("/")
        row.certify_token_sealed = sealed_token
        org = answer.get("organization")
        row.certify_org = organization or (str(org.get("name")) if isinstance(org, dict) else None)
        row.certify_validity = validity
        ctx.audit(
            session,
            "connector.key.certify",
            fingerprint,
            server=row.certify_server,
            serial=answer.get("serial"),
        )
        return ConnectorKeyView.of(row)


def _issue(
    server: str, token: str, public: str, organization: str | None, validity: str | None
) -> dict[str, object]:
    body: dict[str, object] = {"public_key": public}
    if organization:
        body["organization"] = organization
    if validity:
        body["validity"] = validity
    answer = request_certificate(server, token, body)
    if not isinstance(answer.get("certificate"), str):
        raise InvalidInput("the issuing server's answer holds no certificate")
    return answer


def _apply_certificate(row: ConnectorKey, answer: dict[str, object]) -> None:
    cert = parse_certificate_line(str(answer["certificate"]))
    if cert.public_key_fingerprint != row.fingerprint:
        raise InvalidInput("the issuing server certified another key than the connector's")
    row.certificate = str(answer["certificate"]).strip()
    row.certificate_valid_after = _stamp(cert.valid_after)
    row.certificate_valid_before = _stamp(cert.valid_before)
    row.certify_error = None


def _stamp(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(min(seconds, 253402300799), dt.UTC)  # 9999-12-31


def renewal_due(row: ConnectorKey, now: dt.datetime) -> bool:
    """Renew once less than a third of the certificate's life remains (at least 30 s
    early: serve looks every few seconds), like step-ca's renewal window: a renewal that
    fails is retried while the current certificate still works."""
    if row.certificate_valid_before is None or row.certify_token_sealed is None:
        return False
    after = row.certificate_valid_after or row.created_at
    life = (row.certificate_valid_before - after).total_seconds()
    margin = max(life / 3, 30.0)
    return (row.certificate_valid_before - now).total_seconds() <= margin


def renew_if_due(ctx: Context) -> bool:
    """Renew the active key's certificate when due; True when a new one was stored. A
    failure is recorded on the key (``key show``) and logged, never raised: serve keeps
    running and retries on its next round."""
    now = ctx.now()
    with transaction(ctx.engine) as session:
        row = q.key_in_state(session, ACTIVE)
        if row is None or not renewal_due(row, now):
            return False
        fingerprint, server = row.fingerprint, row.certify_server or ""
        sealed, org, validity, line = (
            row.certify_token_sealed or "",
            row.certify_org,
            row.certify_validity,
            row.public_key,
        )
    try:
        secret = load_secret(ctx.settings)
        token = ca_secret.open_sealed(
            secret, sealed, _token_ad(fingerprint), info=SEAL_INFO
        ).decode()
        answer = _issue(server, token, line, org or None, validity)
        with transaction(ctx.engine) as session:
            row = q.key_in_state(session, ACTIVE)
            if row is None or row.fingerprint != fingerprint:
                return False
            _apply_certificate(row, answer)
            ctx.audit(session, "connector.key.renew", fingerprint, serial=answer.get("serial"))
        log.info("connector_certificate_renewed", fingerprint=fingerprint)
        return True
    except GitwardError as exc:
        log.warning("connector_certificate_renewal_failed", cause=exc.cause)
        with transaction(ctx.engine) as session:
            row = q.key_in_state(session, ACTIVE)
            if row is not None and row.fingerprint == fingerprint:
                row.certify_error = exc.message[:500]
        return False
