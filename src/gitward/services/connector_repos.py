"""Connected repositories: add, list (with their sync status), remove, trigger a sync now,
and check a webhook's ``X-Hub-Signature-256``.

Each repository gets a webhook secret at ``repo add`` (shown once, kept sealed: the HMAC
needs the secret itself, so a hash would not do). A push hook then POSTs to
``/api/v1/connector/repositories/NAME/sync`` signed the way GitHub signs: ``sha256=`` and
the hex HMAC-SHA256 of the raw body under the secret, compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gitward.connector.schedule import parse_sync_interval
from gitward.connector.urls import format_host_port, parse_remote_url
from gitward.errors import AlreadyExists, InvalidInput, NotFound
from gitward.git import mirror
from gitward.services import ca_secret
from gitward.services.connector_keys import SEAL_INFO, load_secret
from gitward.services.context import Context
from gitward.services.tokens import Unauthenticated
from gitward.services.views import View
from gitward.settings import Settings
from gitward.store.db import Session, transaction
from gitward.store.models import ConnectorRepository
from gitward.store.queries import connector as q

DEFAULT_INTERVAL: Final = "5m"
_NAME: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
SIGNATURE_PREFIX: Final = "sha256="


def connector_dir(settings: Settings) -> Path:
    # Absolute: git and ssh run with other working directories (``git init`` from the
    # mirrors' parent, key files named on ssh's command line), and the default data
    # directory, ``var``, is relative.
    return (settings.data_dir / "connector").absolute()


def mirror_path(settings: Settings, name: str) -> Path:
    return connector_dir(settings) / "mirrors" / f"{name.lower()}.git"


def run_dir(settings: Settings) -> Path:
    """Where ssh sessions put their (decrypted) key files: 0700, see git/outbound.py."""
    return connector_dir(settings) / "run"


@dataclass(frozen=True)
class RepositoryView(View):
    name: str
    url: str
    host_port: str
    interval_seconds: int
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_outcome: str | None
    last_error_kind: str | None
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: dt.datetime | None
    ref_count: int | None
    default_branch: str | None
    branches: int
    syncing: bool
    new_key_accepted: bool | None

    @classmethod
    def of(cls, row: ConnectorRepository, branches: int, now: dt.datetime) -> RepositoryView:
        syncing = row.lease_owner is not None and (
            row.lease_expires_at is not None and row.lease_expires_at > now
        )
        return cls(
            row.name,
            row.url,
            format_host_port(row.host, row.port),
            row.interval_seconds,
            row.created_at,
            row.last_attempt_at,
            row.last_success_at,
            row.last_outcome,
            row.last_error_kind,
            row.last_error,
            row.consecutive_failures,
            row.next_attempt_at,
            row.ref_count,
            row.default_branch,
            branches,
            syncing,
            row.pending_key_accepted,
        )


@dataclass(frozen=True)
class AddedRepository:
    view: RepositoryView
    webhook_secret: str  # shown once
    host_pinned: bool

    def to_json(self) -> dict[str, object]:
        return {
            **self.view.to_json(),
            "webhook_secret": self.webhook_secret,
            "host_pinned": self.host_pinned,
        }


def require_repository(session: Session, name: str) -> ConnectorRepository:
    row = q.repository_by_name(session, name)
    if row is None:
        raise NotFound(f"no connected repository named {name!r}")
    return row


def check_name(name: str) -> str:
    bare = name.removesuffix(".git")
    if not _NAME.match(bare) or bare in (".", ".."):
        raise InvalidInput(
            f"invalid repository name {name[:40]!r}: use letters, digits, '.', '-' and '_' "
            "(at most 100, not starting with '.' or '-')"
        )
    return bare


def _webhook_ad(repo_id: int) -> str:
    return f"connector-webhook:{repo_id}"


def add(
    ctx: Context, url: str, *, name: str | None = None, interval: str = DEFAULT_INTERVAL
) -> AddedRepository:
    remote = parse_remote_url(url)
    chosen = check_name(name or remote.default_name)
    seconds = parse_sync_interval(interval)
    secret = load_secret(ctx.settings)
    webhook_secret = secrets.token_hex(32)
    now = ctx.now()
    with transaction(ctx.engine) as session:
        if q.repository_by_name(session, chosen) is not None:
            raise AlreadyExists(
                f"a connected repository is already named {chosen!r}: choose --name"
            )
        row = ConnectorRepository(
            name=chosen,
            url=remote.git_url,
            host=remote.host,
            port=remote.port,
            interval_seconds=seconds,
            created_at=now,
            consecutive_failures=0,
            next_attempt_at=now,
        )
        session.add(row)
        session.flush()
        row.webhook_secret_sealed = ca_secret.seal(
            secret, webhook_secret.encode(), _webhook_ad(row.id), info=SEAL_INFO
        )
        pinned = bool(q.pins_for(session, remote.host, remote.port))
        ctx.audit(session, "connector.repo.add", chosen, url=remote.git_url)
        return AddedRepository(RepositoryView.of(row, 0, now), webhook_secret, pinned)


def list_repositories(ctx: Context) -> list[RepositoryView]:
    now = ctx.now()
    with transaction(ctx.engine) as session:
        counts = q.branch_counts(session)
        return [
            RepositoryView.of(r, counts.get(r.id, 0), now) for r in q.list_repositories(session)
        ]


def get_repository(ctx: Context, name: str) -> RepositoryView:
    now = ctx.now()
    with transaction(ctx.engine) as session:
        row = require_repository(session, name)
        return RepositoryView.of(row, q.branch_counts(session).get(row.id, 0), now)


def remove(ctx: Context, name: str) -> RepositoryView:
    now = ctx.now()
    with transaction(ctx.engine) as session:
        row = require_repository(session, name)
        view = RepositoryView.of(row, q.branch_counts(session).get(row.id, 0), now)
        q.delete_index(session, row.id)
        session.delete(row)
        ctx.audit(session, "connector.repo.remove", row.name)
    mirror.remove_mirror(mirror_path(ctx.settings, view.name))
    return view


def request_sync(ctx: Context, name: str) -> RepositoryView:
    """Make the repository due now: the scheduler of whichever frontend looks next takes
    it (syncing here, in the request, would tie an HTTP worker to a fetch)."""
    now = ctx.now()
    with transaction(ctx.engine) as session:
        row = require_repository(session, name)
        row.next_attempt_at = now
        ctx.audit(session, "connector.repo.trigger", row.name)
        return RepositoryView.of(row, q.branch_counts(session).get(row.id, 0), now)


def verify_webhook(ctx: Context, name: str, body: bytes, signature: str) -> None:
    """Accept the request only if ``signature`` is the body's HMAC under the repository's
    secret; every failure gets the same answer (no probing for repository names)."""
    refused = Unauthenticated(
        "the webhook signature is not valid", cause=f"bad X-Hub-Signature-256 for {name[:100]!r}"
    )
    if not signature.startswith(SIGNATURE_PREFIX):
        raise refused
    with transaction(ctx.engine) as session:
        row = q.repository_by_name(session, name)
        sealed = row.webhook_secret_sealed if row is not None else None
        repo_id = row.id if row is not None else 0
    # An unknown repository costs the same HMAC, under a throw-away key.
    secret = (
        ca_secret.open_sealed(
            load_secret(ctx.settings), sealed, _webhook_ad(repo_id), info=SEAL_INFO
        )
        if sealed is not None
        else secrets.token_bytes(32)
    )
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    given = signature[len(SIGNATURE_PREFIX) :].strip().lower()
    if not hmac.compare_digest(expected.encode(), given.encode()) or sealed is None:
        raise refused
