"""The connector's state: its keys, host-key pins, repositories (with the sync lease), and
the commit index. Bulk writes use Core statements in batches (an index of 100,000 commits
must not build 100,000 ORM objects); "insert or ignore" is folded over both backends here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gitward.store.models import (
    ConnectorBranch,
    ConnectorBranchKey,
    ConnectorCommit,
    ConnectorCommitBranch,
    ConnectorCommitKey,
    ConnectorHostKey,
    ConnectorKey,
    ConnectorRepository,
)

# SQLite allows 32,766 bound parameters per statement (3.32+); PostgreSQL 65,535.
IN_BATCH = 2000

# ---- keys -------------------------------------------------------------------------------


def key_in_state(session: Session, state: str) -> ConnectorKey | None:
    return session.scalar(select(ConnectorKey).where(ConnectorKey.state == state))


# ---- host keys --------------------------------------------------------------------------


def pins_for(session: Session, host: str, port: int) -> Sequence[ConnectorHostKey]:
    return session.scalars(
        select(ConnectorHostKey)
        .where(ConnectorHostKey.host == host, ConnectorHostKey.port == port)
        .order_by(ConnectorHostKey.id)
    ).all()


def all_pins(session: Session) -> Sequence[ConnectorHostKey]:
    return session.scalars(
        select(ConnectorHostKey).order_by(
            ConnectorHostKey.host, ConnectorHostKey.port, ConnectorHostKey.id
        )
    ).all()


# ---- repositories -----------------------------------------------------------------------


def repository_by_name(session: Session, name: str) -> ConnectorRepository | None:
    return session.scalar(
        select(ConnectorRepository).where(func.lower(ConnectorRepository.name) == name.lower())
    )


def list_repositories(session: Session) -> Sequence[ConnectorRepository]:
    return session.scalars(select(ConnectorRepository).order_by(ConnectorRepository.name)).all()


def due_repositories(session: Session, now: dt.datetime, limit: int) -> Sequence[int]:
    """Ids of repositories whose next attempt is due and whose lease is free, soonest first."""
    return session.scalars(
        select(ConnectorRepository.id)
        .where(
            or_(
                ConnectorRepository.next_attempt_at.is_(None),
                ConnectorRepository.next_attempt_at <= now,
            ),
            _lease_free(now),
        )
        .order_by(
            ConnectorRepository.next_attempt_at.is_not(None), ConnectorRepository.next_attempt_at
        )
        .limit(limit)
    ).all()


def _lease_free(now: dt.datetime) -> Any:
    return or_(
        ConnectorRepository.lease_owner.is_(None), ConnectorRepository.lease_expires_at < now
    )


def claim_lease(
    session: Session, repo_id: int, owner: str, now: dt.datetime, until: dt.datetime
) -> bool:
    """Take the repository's sync lease if it is free or expired: one UPDATE whose WHERE
    re-checks the lease, so of two frontends racing, exactly one sees a row changed."""
    result = session.execute(
        update(ConnectorRepository)
        .where(ConnectorRepository.id == repo_id, _lease_free(now))
        .values(lease_owner=owner, lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def renew_lease(session: Session, repo_id: int, owner: str, until: dt.datetime) -> bool:
    result = session.execute(
        update(ConnectorRepository)
        .where(ConnectorRepository.id == repo_id, ConnectorRepository.lease_owner == owner)
        .values(lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release_lease(session: Session, repo_id: int, owner: str) -> None:
    session.execute(
        update(ConnectorRepository)
        .where(ConnectorRepository.id == repo_id, ConnectorRepository.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


# ---- the index --------------------------------------------------------------------------


def _insert_or_ignore(session: Session, table: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING on both backends (re-indexing is idempotent)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _insert_ignore(session: Session, table: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        # Core, not the ORM: these are plain rows by the thousand.
        session.connection().execute(_insert_or_ignore(session, table), list(rows))


def branches_of(session: Session, repo_id: int) -> dict[str, tuple[int, str]]:
    """name -> (id, tip sha) of the indexed branches."""
    rows = session.execute(
        select(ConnectorBranch.name, ConnectorBranch.id, ConnectorBranch.sha).where(
            ConnectorBranch.repository_id == repo_id
        )
    )
    return {name: (branch_id, sha) for name, branch_id, sha in rows.tuples()}


def insert_commits(
    session: Session,
    repo_id: int,
    commits: Sequence[Mapping[str, Any]],
    keys: Mapping[str, Sequence[str]],
) -> dict[str, int]:
    """Insert a batch of commits (dicts of ConnectorCommit columns, ``sha`` included) and
    their issue-key links; commits already indexed become reachable again, as they are
    reachable from a branch now. Returns every commit's id by sha."""
    if not commits:
        return {}
    table = ConnectorCommit.__table__
    # RETURNING (batched into multi-row VALUES by SQLAlchemy's insertmanyvalues) hands back
    # the ids of the rows inserted; only commits indexed before need a lookup.
    inserted = session.connection().execute(
        _insert_or_ignore(session, table).returning(table.c.sha, table.c.id),
        [{**c, "repository_id": repo_id} for c in commits],
    )
    ids: dict[str, int] = {sha: commit_id for sha, commit_id in inserted.tuples()}
    known = [c["sha"] for c in commits if c["sha"] not in ids]
    if known:
        again = commit_ids(session, repo_id, known)
        session.execute(
            update(ConnectorCommit)
            .where(
                ConnectorCommit.id.in_(list(again.values())), ConnectorCommit.reachable.is_(False)
            )
            .values(reachable=True)
            .execution_options(synchronize_session=False)
        )
        ids.update(again)
    links = [
        {"issue_key": key, "commit_id": ids[sha]}
        for sha, found in keys.items()
        if sha in ids
        for key in found
    ]
    _insert_ignore(session, ConnectorCommitKey.__table__, links)
    return ids


def commit_ids(
    session: Session, repo_id: int, shas: Sequence[str], *, keyed_only: bool = False
) -> dict[str, int]:
    query = select(ConnectorCommit.sha, ConnectorCommit.id).where(
        ConnectorCommit.repository_id == repo_id, ConnectorCommit.sha.in_(list(shas))
    )
    if keyed_only:
        query = query.where(ConnectorCommit.has_keys.is_(True))
    return {sha: commit_id for sha, commit_id in session.execute(query).tuples()}


def mark_unreachable(session: Session, repo_id: int, shas: Sequence[str]) -> None:
    session.execute(
        update(ConnectorCommit)
        .where(ConnectorCommit.repository_id == repo_id, ConnectorCommit.sha.in_(list(shas)))
        .values(reachable=False)
        .execution_options(synchronize_session=False)
    )


def upsert_branch(session: Session, repo_id: int, name: str, sha: str, existing: int | None) -> int:
    if existing is not None:
        session.execute(
            update(ConnectorBranch)
            .where(ConnectorBranch.id == existing)
            .values(sha=sha)
            .execution_options(synchronize_session=False)
        )
        return existing
    row = ConnectorBranch(repository_id=repo_id, name=name, sha=sha)
    session.add(row)
    session.flush()
    return row.id


def delete_branches(session: Session, branch_ids: Iterable[int]) -> None:
    ids = list(branch_ids)
    if not ids:
        return
    for table, column in (
        (ConnectorCommitBranch, ConnectorCommitBranch.branch_id),
        (ConnectorBranchKey, ConnectorBranchKey.branch_id),
    ):
        session.execute(delete(table).where(column.in_(ids)))
    session.execute(delete(ConnectorBranch).where(ConnectorBranch.id.in_(ids)))


def add_branch_keys(session: Session, branch_id: int, keys: Iterable[str]) -> None:
    _insert_ignore(
        session,
        ConnectorBranchKey.__table__,
        [{"issue_key": k, "branch_id": branch_id} for k in keys],
    )


def link_branch(session: Session, branch_id: int, commit_ids_: Iterable[int]) -> None:
    _insert_ignore(
        session,
        ConnectorCommitBranch.__table__,
        [{"commit_id": c, "branch_id": branch_id} for c in commit_ids_],
    )


def unlink_branch(session: Session, branch_id: int, commit_ids_: Sequence[int] | None) -> None:
    """Remove a branch's containment links (all of them when ``commit_ids_`` is None)."""
    query = delete(ConnectorCommitBranch).where(ConnectorCommitBranch.branch_id == branch_id)
    if commit_ids_ is not None:
        query = query.where(ConnectorCommitBranch.commit_id.in_(list(commit_ids_)))
    session.execute(query)


def commit_count(session: Session, repo_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ConnectorCommit)
            .where(ConnectorCommit.repository_id == repo_id)
        )
        or 0
    )


def branch_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(ConnectorBranch.repository_id, func.count()).group_by(ConnectorBranch.repository_id)
    )
    return {repo_id: int(n) for repo_id, n in rows.tuples()}


# ---- search -----------------------------------------------------------------------------


def commits_for_key(
    session: Session, issue_key: str, limit: int
) -> Sequence[tuple[ConnectorCommit, str]]:
    """The commits mentioning ``issue_key`` with their repository's name, newest first: an
    index seek on the link table's primary key, then primary-key lookups."""
    rows = session.execute(
        select(ConnectorCommit, ConnectorRepository.name)
        .join(ConnectorCommitKey, ConnectorCommitKey.commit_id == ConnectorCommit.id)
        .join(ConnectorRepository, ConnectorRepository.id == ConnectorCommit.repository_id)
        .where(ConnectorCommitKey.issue_key == issue_key)
        # Ties (one second, a rebase) in git log's order, which inserted them newest first.
        .order_by(ConnectorCommit.authored_at.desc(), ConnectorCommit.id)
        .limit(limit)
    )
    return [(commit, name) for commit, name in rows.tuples()]


def branch_names_of_commits(session: Session, commit_ids_: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {c: [] for c in commit_ids_}
    if not commit_ids_:
        return found
    rows = session.execute(
        select(ConnectorCommitBranch.commit_id, ConnectorBranch.name)
        .join(ConnectorBranch, ConnectorBranch.id == ConnectorCommitBranch.branch_id)
        .where(ConnectorCommitBranch.commit_id.in_(list(commit_ids_)))
        .order_by(ConnectorBranch.name)
    )
    for commit_id, name in rows.tuples():
        found[commit_id].append(name)
    return found


def branches_for_key(session: Session, issue_key: str) -> Sequence[tuple[ConnectorBranch, str]]:
    rows = session.execute(
        select(ConnectorBranch, ConnectorRepository.name)
        .join(ConnectorBranchKey, ConnectorBranchKey.branch_id == ConnectorBranch.id)
        .join(ConnectorRepository, ConnectorRepository.id == ConnectorBranch.repository_id)
        .where(ConnectorBranchKey.issue_key == issue_key)
        .order_by(ConnectorRepository.name, ConnectorBranch.name)
    )
    return [(branch, name) for branch, name in rows.tuples()]


def delete_index(session: Session, repo_id: int) -> None:
    """Everything indexed for a repository (before the repository row goes)."""
    commits = select(ConnectorCommit.id).where(ConnectorCommit.repository_id == repo_id)
    branches = select(ConnectorBranch.id).where(ConnectorBranch.repository_id == repo_id)
    session.execute(delete(ConnectorCommitKey).where(ConnectorCommitKey.commit_id.in_(commits)))
    session.execute(
        delete(ConnectorCommitBranch).where(
            or_(
                ConnectorCommitBranch.commit_id.in_(commits),
                ConnectorCommitBranch.branch_id.in_(branches),
            )
        )
    )
    session.execute(delete(ConnectorBranchKey).where(ConnectorBranchKey.branch_id.in_(branches)))
    session.execute(delete(ConnectorCommit).where(ConnectorCommit.repository_id == repo_id))
    session.execute(delete(ConnectorBranch).where(ConnectorBranch.repository_id == repo_id))
