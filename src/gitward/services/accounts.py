"""Users and their public keys."""

from __future__ import annotations

from gitward.errors import AlreadyExists, InvalidInput, NotFound
from gitward.git import repos as disk
from gitward.keys.upload import KeyPurpose, UploadedKey, validate_public_key_upload
from gitward.names import check_account_name
from gitward.services.context import Check, Context, undo_on_failure
from gitward.services.views import KeyView, UserView
from gitward.store.db import Session, transaction
from gitward.store.models import SSHKey, User
from gitward.store.queries import accounts, keys


def require_user(session: Session, name: str) -> User:
    user = accounts.user_by_name(session, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def ensure_name_free(session: Session, name: str) -> None:
    if accounts.account_name_taken(session, name):
        raise AlreadyExists(f"the name {name!r} is already taken")


def ensure_key_unused(session: Session, key: UploadedKey) -> None:
    """A key may be registered once in the whole installation, as any kind of key."""
    if keys.key_by_fingerprint(session, key.fingerprint) or keys.ca_by_fingerprint(
        session, key.fingerprint
    ):
        # Never say by whom: that would reveal another account.
        raise AlreadyExists("key is already in use")


def create_user(
    ctx: Context, name: str, *, site_admin: bool = False, check: Check | None = None
) -> UserView:
    check_account_name(name)
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        ensure_name_free(session, name)
        user = User(username=name, created_at=ctx.now(), suspended=False, site_admin=site_admin)
        session.add(user)
        session.flush()
        ctx.audit(session, "user.create", name, user_id=user.id)
        return UserView.of(user)


def rename_user(ctx: Context, old: str, new: str, *, check: Check | None = None) -> UserView:
    check_account_name(new)
    repos_dir = ctx.settings.repos_dir
    with undo_on_failure() as undo, transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        user = require_user(session, old)
        if new.lower() != user.username.lower():
            ensure_name_free(session, new)
        previous = user.username
        user.username, user.renamed_at = new, ctx.now()
        ctx.audit(session, "user.rename", new, user_id=user.id, previous=previous)
        session.flush()
        # Last, so a refused rename leaves the disk alone; undone if the commit fails.
        disk.move_owner_dir(repos_dir, previous, new)
        undo.append(lambda: disk.move_owner_dir(repos_dir, new, previous))
        return UserView.of(user)


def set_suspended(
    ctx: Context, name: str, suspended: bool, *, check: Check | None = None
) -> UserView:
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        user = require_user(session, name)
        user.suspended = suspended
        ctx.audit(session, "user.suspend" if suspended else "user.unsuspend", user.username)
        return UserView.of(user)


def list_users(ctx: Context) -> list[UserView]:
    with transaction(ctx.engine) as session:
        return [UserView.of(u) for u in accounts.list_users(session)]


def add_key(
    ctx: Context,
    username: str,
    data: bytes,
    *,
    title: str | None = None,
    check: Check | None = None,
) -> KeyView:
    key = validate_public_key_upload(data, KeyPurpose.USER)
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        user = require_user(session, username)
        ensure_key_unused(session, key)
        row = SSHKey(
            fingerprint=key.fingerprint,
            key_type=key.key_type,
            public_key=key.openssh_line,
            title=_title(title, key),
            user_id=user.id,
            read_only=True,
            created_at=ctx.now(),
        )
        session.add(row)
        session.flush()
        ctx.audit(session, "key.add", user.username, fingerprint=key.fingerprint)
        return KeyView.of(row)


def _title(title: str | None, key: UploadedKey) -> str:
    chosen = (title if title is not None else key.comment).strip() or key.fingerprint
    if len(chosen) > 200 or any(ord(ch) < 32 for ch in chosen):
        raise InvalidInput("a key title is one line of at most 200 characters")
    return chosen


def list_keys(ctx: Context, username: str) -> list[KeyView]:
    with transaction(ctx.engine) as session:
        user = require_user(session, username)
        return [KeyView.of(k) for k in keys.keys_of_user(session, user.id)]


def remove_key(
    ctx: Context, username: str, fingerprint: str, *, check: Check | None = None
) -> KeyView:
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        user = require_user(session, username)
        row = keys.key_by_fingerprint(session, fingerprint)
        if row is None or row.user_id != user.id:
            raise NotFound(f"{user.username} has no key {fingerprint}")
        view = KeyView.of(row)
        session.delete(row)
        ctx.audit(session, "key.remove", user.username, fingerprint=fingerprint)
        return view
