"""Repositories: creation and forks on disk, collaborators, deploy keys, clone URLs."""

from __future__ import annotations

from pathlib import Path

from gitward.errors import AlreadyExists, InvalidInput, NotFound
from gitward.git import repos as disk
from gitward.keys.upload import KeyPurpose, validate_public_key_upload
from gitward.names import split_full_name
from gitward.services.accounts import ensure_key_unused, require_user
from gitward.services.context import Check, Context, undo_on_failure
from gitward.services.views import KeyView, RepoView
from gitward.store.db import Session, transaction
from gitward.store.models import Collaborator, Organization, Permission, Repository, SSHKey, User
from gitward.store.queries import accounts, repos


def require_repo(session: Session, full_name: str) -> Repository:
    owner, name = split_full_name(full_name)
    repo = repos.repo_by_owner_and_name(session, owner, name)
    if repo is None:
        raise NotFound(f"no repository {owner}/{name}")
    return repo


def disk_path(ctx: Context, repo: Repository) -> Path:
    return disk.repository_path(ctx.settings.repos_dir, repo.owner_name, repo.name)


def _new_repo(ctx: Context, session: Session, owner: User | Organization, name: str) -> Repository:
    owner_name = owner.username if isinstance(owner, User) else owner.name
    if repos.repo_by_owner_and_name(session, owner_name, name):
        raise AlreadyExists(f"repository {owner_name}/{name} already exists")
    repo = Repository(
        owner_user=owner if isinstance(owner, User) else None,
        owner_organization=owner if isinstance(owner, Organization) else None,
        name=name,
        created_at=ctx.now(),
    )
    session.add(repo)
    session.flush()
    return repo


def create_repo(ctx: Context, full_name: str, *, check: Check | None = None) -> RepoView:
    owner_name, name = split_full_name(full_name)
    with undo_on_failure() as undo, transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        owner: User | Organization | None = accounts.user_by_name(
            session, owner_name
        ) or accounts.org_by_name(session, owner_name)
        if owner is None:
            raise NotFound(f"no user or organization named {owner_name!r}")
        repo = _new_repo(ctx, session, owner, name)
        ctx.audit(session, "repo.create", repo.full_name, repo_id=repo.id)
        path = disk_path(ctx, repo)
        disk.create_bare(path)  # last: a refused insert never touches the disk
        undo.append(lambda: disk.remove_tree(path))
        return RepoView.of(repo)


def fork_repo(ctx: Context, full_name: str, to_user: str) -> RepoView:
    with undo_on_failure() as undo, transaction(ctx.engine) as session:
        source = require_repo(session, full_name)
        user = require_user(session, to_user)
        fork = _new_repo(ctx, session, user, source.name)
        fork.fork_of = source
        session.flush()
        ctx.audit(session, "repo.fork", fork.full_name, source=source.full_name)
        path = disk_path(ctx, fork)
        disk.fork_bare(disk_path(ctx, source), path)
        undo.append(lambda: disk.remove_tree(path))
        return RepoView.of(fork)


def grant(
    ctx: Context, full_name: str, username: str, permission: str, *, check: Check | None = None
) -> dict[str, str]:
    try:
        level = Permission(permission)
    except ValueError as exc:
        raise InvalidInput(f"permission must be read, write or admin, not {permission!r}") from exc
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        repo = require_repo(session, full_name)
        user = require_user(session, username)
        existing = repos.collaborator(session, repo.id, user.id)
        if existing is None:
            session.add(
                Collaborator(
                    repository_id=repo.id, user_id=user.id, permission=level, created_at=ctx.now()
                )
            )
        else:
            existing.permission = level
        ctx.audit(session, "repo.grant", repo.full_name, user=user.username, permission=level.value)
        return {"repository": repo.full_name, "user": user.username, "permission": level.value}


def list_repos(ctx: Context) -> list[RepoView]:
    with transaction(ctx.engine) as session:
        return [RepoView.of(r) for r in repos.list_repos(session)]


def clone_urls(ctx: Context, full_name: str) -> list[str]:
    """The git@ URL, and for an organization's repository also its org-ID@ URL."""
    with transaction(ctx.engine) as session:
        repo = require_repo(session, full_name)
        users = ["git"]
        if repo.owner_organization_id is not None:
            users.append(f"org-{repo.owner_organization_id}")
        return [
            ssh_url(u, ctx.settings.hostname, ctx.settings.ssh_port, repo.full_name) for u in users
        ]


def ssh_url(user: str, host: str, port: int, full_name: str) -> str:
    # The scp-like form cannot carry a port; on any other port git needs the ssh:// form.
    if port == 22:
        return f"{user}@{host}:{full_name}.git"
    return f"ssh://{user}@{host}:{port}/{full_name}.git"


def add_deploy_key(
    ctx: Context,
    full_name: str,
    data: bytes,
    *,
    write: bool = False,
    title: str | None = None,
    check: Check | None = None,
) -> KeyView:
    key = validate_public_key_upload(data, KeyPurpose.DEPLOY)
    with transaction(ctx.engine) as session:
        if check is not None:
            check(session)
        repo = require_repo(session, full_name)
        ensure_key_unused(session, key)
        row = SSHKey(
            fingerprint=key.fingerprint,
            key_type=key.key_type,
            public_key=key.openssh_line,
            title=(title or key.comment or key.fingerprint)[:200],
            repository_id=repo.id,
            read_only=not write,
            created_at=ctx.now(),
        )
        session.add(row)
        session.flush()
        ctx.audit(
            session, "deploy_key.add", repo.full_name, fingerprint=key.fingerprint, write=write
        )
        return KeyView.of(row)
