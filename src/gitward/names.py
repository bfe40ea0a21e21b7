"""The shapes of account and repository names, as GitHub has them. Pure."""

from __future__ import annotations

import re

from gitward.errors import InvalidInput

# Letters, digits and single hyphens; no hyphen at either end; at most 39 characters.
_ACCOUNT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
# Letters, digits, '.', '-', '_'; not starting with '.' or '-' (no hidden files, no options).
_REPOSITORY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
# Names that would collide with Gitward's own URL users and paths.
_RESERVED_ACCOUNTS = {"git", "root", "admin", "api", "login"}


def check_account_name(name: str, *, what: str = "user name") -> str:
    if not _ACCOUNT.match(name):
        raise InvalidInput(
            f"invalid {what} {name!r}: use letters, digits and single hyphens "
            "(at most 39, not starting or ending with a hyphen)"
        )
    lowered = name.lower()
    if lowered in _RESERVED_ACCOUNTS or re.fullmatch(r"org-\d+", lowered):
        raise InvalidInput(f"the {what} {name!r} is reserved")
    return name


def check_repository_name(name: str) -> str:
    """Validate NAME of OWNER/NAME; a trailing .git is dropped, as GitHub does."""
    bare = name.removesuffix(".git")
    if not _REPOSITORY.match(bare) or bare in {".", ".."}:
        raise InvalidInput(
            f"invalid repository name {name!r}: use letters, digits, '.', '-' and '_' "
            "(at most 100, not starting with '.' or '-')"
        )
    return bare


def split_full_name(full_name: str) -> tuple[str, str]:
    """``OWNER/NAME`` into its parts, both validated."""
    owner, sep, name = full_name.strip().partition("/")
    if not sep or "/" in name:
        raise InvalidInput(f"expected OWNER/NAME, got {full_name!r}")
    return check_account_name(owner, what="owner name"), check_repository_name(name)
