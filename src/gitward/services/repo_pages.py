"""A repository as the web UI and the API show it: the "Code" box, deploy keys,
collaborators. Reading needs read permission (else "not found", like a missing one);
managing deploy keys and collaborators needs admin, as on GitHub."""

from __future__ import annotations

from dataclasses import dataclass

from gitward.errors import NotFound
from gitward.services import repositories
from gitward.services.actor import Actor, repo_permission
from gitward.services.context import Context
from gitward.services.repositories import require_repo, ssh_url
from gitward.services.views import KeyView, RepoView, View
from gitward.store.db import Session, transaction
from gitward.store.models import Repository, SSHKey
from gitward.store.queries import accounts
from gitward.store.queries import repos as queries


@dataclass(frozen=True)
class CloneURL(View):
    kind: str  # "ssh" (git@) or "certificate" (org-ID@, certificates only)
    url: str
    required: bool  # the organization refuses plain keys: this is the URL to use
    ssh_user: str


@dataclass(frozen=True)
class CollaboratorView(View):
    username: str
    permission: str


@dataclass(frozen=True)
class RepoPage(View):
    repository: RepoView
    owner: str
    name: str
    permission: str
    organization_id: int | None
    requires_certificates: bool
    urls: list[CloneURL]
    ssh_config: str
    ssh_url: str
    ssh_certificate_url: str | None
    deploy_keys: list[KeyView] | None  # None: the actor may not manage them
    collaborators: list[CollaboratorView] | None


def _readable(
    session: Session, actor: Actor, full_name: str, scope: str = "repo"
) -> tuple[Repository, str]:
    actor.require_scope(scope)
    try:
        repo = require_repo(session, full_name)
    except NotFound:
        repo = None
    permission = repo_permission(session, actor, repo) if repo else None
    if repo is None or permission is None:
        raise NotFound(f"no repository {full_name[:140]}")
    return repo, permission


def _admin(session: Session, actor: Actor, full_name: str) -> Repository:
    repo, permission = _readable(session, actor, full_name)
    if permission != "admin":
        raise NotFound(f"no repository {full_name[:140]}", cause=f"{actor.username}: {permission}")
    return repo


def clone_urls(ctx: Context, repo: Repository) -> list[CloneURL]:
    host, port = ctx.settings.hostname, ctx.settings.ssh_port
    org = repo.owner_organization
    required = org is not None and org.require_ssh_certificates
    urls = [CloneURL("ssh", ssh_url("git", host, port, repo.full_name), False, "git")]
    if org is not None:
        user = f"org-{org.id}"
        urls.append(
            CloneURL("certificate", ssh_url(user, host, port, repo.full_name), required, user)
        )
    return urls


def ssh_config_block(ctx: Context, repo: Repository) -> str:
    """A ready ``~/.ssh/config`` block: a short host alias for this server, with the
    certificate when the organization has CAs (ssh offers KEY-cert.pub by itself, the
    line only makes it explicit)."""
    org = repo.owner_organization
    alias = f"gitward-{org.name.lower()}" if org else "gitward"
    user = f"org-{org.id}" if org else "git"
    lines = [
        f"Host {alias}",
        f"    HostName {ctx.settings.hostname}",
        f"    Port {ctx.settings.ssh_port}",
        f"    User {user}",
        "    IdentityFile ~/.ssh/id_ed25519",
    ]
    if org:
        lines.append("    CertificateFile ~/.ssh/id_ed25519-cert.pub")
    lines += ["    IdentitiesOnly yes", "", f"# git clone {alias}:{repo.full_name}.git"]
    return "\n".join(lines)


def repo_page(ctx: Context, actor: Actor, full_name: str) -> RepoPage:
    with transaction(ctx.engine) as session:
        repo, permission = _readable(session, actor, full_name)
        urls = clone_urls(ctx, repo)
        manage = permission == "admin"
        org = repo.owner_organization
        return RepoPage(
            RepoView.of(repo),
            repo.owner_name,
            repo.name,
            permission,
            org.id if org else None,
            bool(org and org.require_ssh_certificates),
            urls,
            ssh_config_block(ctx, repo),
            urls[0].url,
            urls[1].url if len(urls) > 1 else None,
            [KeyView.of(k) for k in queries.deploy_keys_of(session, repo.id)] if manage else None,
            [
                CollaboratorView(u.username, c.permission.value)
                for c, u in queries.collaborators_of(session, repo.id)
            ]
            if manage
            else None,
        )


def list_deploy_keys(ctx: Context, actor: Actor, full_name: str) -> list[KeyView]:
    with transaction(ctx.engine) as session:
        repo = _admin(session, actor, full_name)
        return [KeyView.of(k) for k in queries.deploy_keys_of(session, repo.id)]


def deploy_key(ctx: Context, actor: Actor, full_name: str, key_id: int) -> KeyView:
    with transaction(ctx.engine) as session:
        repo = _admin(session, actor, full_name)
        return KeyView.of(_deploy_key(session, repo, key_id))


def _deploy_key(session: Session, repo: Repository, key_id: int) -> SSHKey:
    row = session.get(SSHKey, key_id)
    if row is None or row.repository_id != repo.id:
        raise NotFound(f"{repo.full_name} has no deploy key with id {key_id}")
    return row


def add_deploy_key(
    ctx: Context, actor: Actor, full_name: str, data: bytes, *, write: bool, title: str | None
) -> KeyView:
    def check(session: Session) -> None:
        _admin(session, actor, full_name)

    return repositories.add_deploy_key(
        actor.context(ctx), full_name, data, write=write, title=title or None, check=check
    )


def remove_deploy_key(ctx: Context, actor: Actor, full_name: str, key_id: int) -> KeyView:
    with transaction(ctx.engine) as session:
        repo = _admin(session, actor, full_name)
        row = _deploy_key(session, repo, key_id)
        view = KeyView.of(row)
        session.delete(row)
        actor.context(ctx).audit(
            session, "deploy_key.remove", repo.full_name, fingerprint=view.fingerprint
        )
        return view


def set_collaborator(
    ctx: Context, actor: Actor, full_name: str, username: str, permission: str
) -> dict[str, str]:
    def check(session: Session) -> None:
        _admin(session, actor, full_name)

    return repositories.grant(actor.context(ctx), full_name, username, permission, check=check)


def remove_collaborator(ctx: Context, actor: Actor, full_name: str, username: str) -> None:
    with transaction(ctx.engine) as session:
        repo = _admin(session, actor, full_name)
        user = accounts.user_by_name(session, username)
        grant = queries.collaborator(session, repo.id, user.id) if user else None
        if grant is None or user is None:
            raise NotFound(f"{username} is not a collaborator on {repo.full_name}")
        session.delete(grant)
        actor.context(ctx).audit(session, "repo.revoke", repo.full_name, user=user.username)
