"""The commit index: what a mirror's history says about issue keys, kept incrementally.

``index_mirror`` runs after every successful fetch. Invariant: every commit reachable from
an indexed branch tip is in the index. So, with OLD the tips indexed last time and NEW the
mirror's branch tips now:

1. new commits     = ``git log NEW --not OLD`` (only what is new is read), inserted in
   batches, each its own transaction (a first index of 100,000 commits never holds the
   SQLite write lock for long) and idempotent (insert-or-ignore: a crash, or a second run,
   re-reads at most what was not recorded as indexed);
2. unreachable     = ``git rev-list OLD --not NEW``: after a force-push they stay findable,
   marked unreachable; commits that come back (a branch restored) are marked reachable;
3. branches        = the rows are made to equal NEW (a deleted branch disappears), with
   the issue keys in their names; and for commits that mention a key, which branches
   contain them: per changed branch ``rev-list new --not old`` links, ``rev-list old --not
   new`` unlinks (a branch whose old tip is gone is relinked from scratch).

The tips are written last, per branch in one transaction with its links, so an interrupted
index is finished by the next sync. An OLD tip that gc pruned from the mirror is dropped from
the ``--not`` list (git would refuse it), at the cost of re-reading what it covered.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gitward.connector.issue_keys import IssueKeyRule, make_rule
from gitward.connector.log_records import CommitRecord, LogFormat, LogParser
from gitward.git import mirror
from gitward.services.context import Context
from gitward.services.views import View
from gitward.settings import Settings
from gitward.store.db import transaction
from gitward.store.queries import connector as q

BATCH: Final = 2000
DEFAULT_SEARCH_LIMIT: Final = 500


@dataclass
class IndexStats:
    new_commits: int = 0
    unreachable: int = 0
    branches: int = 0
    branches_changed: int = 0
    branches_deleted: int = 0


def rule_of(settings: Settings) -> IssueKeyRule:
    return make_rule(settings.connector_issue_key_pattern, settings.connector_project_keys)


def _row(record: CommitRecord, keys: tuple[str, ...]) -> dict[str, Any]:
    return {
        "sha": record.sha,
        "authored_at": dt.datetime.fromtimestamp(record.authored_at, dt.UTC),
        "author_name": record.author_name,
        "author_email": record.author_email,
        "subject": record.subject,
        "files_changed": record.files_changed,
        "has_keys": bool(keys),
        "reachable": True,
    }


def _batches(items: Iterable[str], size: int = BATCH) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def index_mirror(ctx: Context, repo_id: int, path: Path) -> IndexStats:
    rule = rule_of(ctx.settings)
    stats = IndexStats()
    with transaction(ctx.engine) as session:
        indexed = q.branches_of(session, repo_id)
    heads = mirror.local_heads(path)
    old_tips = {sha for _, sha in indexed.values()}
    new_tips = set(heads.values())
    # A first index of a single branch: every commit read is on it, so its keyed commits
    # are linked from what was just stored instead of a second walk of the history.
    keyed: array[int] | None = array("q") if not indexed and len(heads) == 1 else None
    present = old_tips
    try:
        stats.new_commits = _index_new_commits(ctx, repo_id, path, new_tips, present, rule, keyed)
    except mirror.MirrorFailed:
        # An old tip gc pruned makes git refuse the walk before it prints anything: drop
        # the missing ones (one cat-file only then, not on every sync).
        present = mirror.existing_commits(path, old_tips)
        stats.new_commits = _index_new_commits(ctx, repo_id, path, new_tips, present, rule, keyed)
    # One branch before and after (most repositories): what left it is what became
    # unreachable, and the branch's own walk finds it; otherwise one walk for all.
    single = len(indexed) == 1 and indexed.keys() == heads.keys()
    gone = present - new_tips
    if gone and not single:
        for batch in _batches(mirror.rev_list(path, gone, new_tips)):
            with transaction(ctx.engine) as session:
                q.mark_unreachable(session, repo_id, batch)
            stats.unreachable += len(batch)
    stats.branches_deleted = _drop_deleted_branches(ctx, indexed, heads)
    for name, sha in sorted(heads.items()):
        previous = indexed.get(name)
        if previous is not None and previous[1] == sha:
            continue
        if keyed is not None:
            _first_branch(ctx, repo_id, name, sha, keyed, rule)
            continue
        removed = _update_branch(ctx, repo_id, path, name, sha, previous, present, rule)
        if single and removed:
            for batch in _batches(removed):
                with transaction(ctx.engine) as session:
                    q.mark_unreachable(session, repo_id, batch)
            stats.unreachable += len(removed)
        stats.branches_changed += 1
    stats.branches = len(heads)
    return stats


def _index_new_commits(
    ctx: Context,
    repo_id: int,
    path: Path,
    tips: set[str],
    exclude: set[str],
    rule: IssueKeyRule,
    keyed: array[int] | None,
) -> int:
    fmt = LogFormat.fresh()
    parser = LogParser(fmt)
    pending: list[CommitRecord] = []
    total = 0
    for chunk in mirror.log_chunks(path, sorted(tips), sorted(exclude), fmt.argument):
        pending.extend(parser.feed(chunk))
        if len(pending) >= BATCH:
            total += _store_commits(ctx, repo_id, pending, rule, keyed)
            pending = []
    pending.extend(parser.close())
    if pending:
        total += _store_commits(ctx, repo_id, pending, rule, keyed)
    return total


def _store_commits(
    ctx: Context,
    repo_id: int,
    records: list[CommitRecord],
    rule: IssueKeyRule,
    keyed: array[int] | None,
) -> int:
    keys = {r.sha: rule.keys_in(r.message) for r in records}
    rows = [_row(r, keys[r.sha]) for r in records]
    with_keys = {s: k for s, k in keys.items() if k}
    with transaction(ctx.engine) as session:
        ids = q.insert_commits(session, repo_id, rows, with_keys)
    if keyed is not None:
        keyed.extend(ids[sha] for sha in with_keys if sha in ids)
    return len(rows)


def _first_branch(
    ctx: Context, repo_id: int, name: str, sha: str, keyed: array[int], rule: IssueKeyRule
) -> None:
    with transaction(ctx.engine) as session:
        branch_id = q.upsert_branch(session, repo_id, name, sha, None)
        q.add_branch_keys(session, branch_id, rule.keys_in(name))
        for start in range(0, len(keyed), BATCH):
            q.link_branch(session, branch_id, keyed[start : start + BATCH])


def _drop_deleted_branches(
    ctx: Context, indexed: dict[str, tuple[int, str]], heads: dict[str, str]
) -> int:
    deleted = [branch_id for name, (branch_id, _) in indexed.items() if name not in heads]
    if deleted:
        with transaction(ctx.engine) as session:
            q.delete_branches(session, deleted)
    return len(deleted)


def _update_branch(
    ctx: Context,
    repo_id: int,
    path: Path,
    name: str,
    sha: str,
    previous: tuple[int, str] | None,
    present: set[str],
    rule: IssueKeyRule,
) -> list[str]:
    """Move one branch to ``sha`` with its containment links; the commits it lost."""
    old = previous[1] if previous is not None and previous[1] in present else None
    removed: list[str] = []
    if old:
        removed, added = mirror.left_right(path, old, sha)
    else:
        added = mirror.rev_list(path, [sha], [])
    with transaction(ctx.engine) as session:
        branch_id = q.upsert_branch(session, repo_id, name, sha, previous[0] if previous else None)
        if previous is not None and old is None:
            q.unlink_branch(session, branch_id, None)  # its old tip is gone: relink all
        if previous is None:
            q.add_branch_keys(session, branch_id, rule.keys_in(name))
        for batch in _batches(added):  # first: the walk fills ``removed`` as it goes
            ids = q.commit_ids(session, repo_id, batch, keyed_only=True)
            q.link_branch(session, branch_id, ids.values())
        for batch in _batches(removed):
            ids = q.commit_ids(session, repo_id, batch, keyed_only=True)
            if ids:
                q.unlink_branch(session, branch_id, list(ids.values()))
    return removed


# ---- search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitHit(View):
    repository: str
    sha: str
    author_name: str
    author_email: str
    authored_at: dt.datetime
    subject: str
    files_changed: int
    branches: list[str]
    reachable: bool


@dataclass(frozen=True)
class BranchHit(View):
    repository: str
    name: str
    sha: str


@dataclass(frozen=True)
class IssueView(View):
    issue_key: str
    commits: list[CommitHit] = field(default_factory=list)
    branches: list[BranchHit] = field(default_factory=list)
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "issue_key": self.issue_key,
            "commits": [c.to_json() for c in self.commits],
            "branches": [b.to_json() for b in self.branches],
            "truncated": self.truncated,
        }


def search(ctx: Context, issue_key: str, *, limit: int = DEFAULT_SEARCH_LIMIT) -> IssueView:
    """Commits and branches mentioning ``issue_key`` (already normalised), every
    repository, newest commit first."""
    with transaction(ctx.engine) as session:
        found = q.commits_for_key(session, issue_key, limit + 1)
        truncated = len(found) > limit
        found = found[:limit]
        names = q.branch_names_of_commits(session, [c.id for c, _ in found])
        commits = [
            CommitHit(
                repo,
                c.sha,
                c.author_name,
                c.author_email,
                c.authored_at,
                c.subject,
                c.files_changed,
                names.get(c.id, []),
                c.reachable,
            )
            for c, repo in found
        ]
        branches = [
            BranchHit(repo, b.name, b.sha) for b, repo in q.branches_for_key(session, issue_key)
        ]
        return IssueView(issue_key, commits, branches, truncated)
