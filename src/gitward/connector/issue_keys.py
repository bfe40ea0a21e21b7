"""Issue keys (``PROJ-123``) in commit messages and branch names. Pure.

The default rule is Jira's: a project key of at least two characters, an upper-case letter
first, then upper-case letters, digits or ``_``; a hyphen; a number without a leading zero;
and not inside a longer word (``PROJ-123`` and ``feature/PROJ-123-login`` yes; ``proj-123``,
``xPROJ-1``, ``PROJ-0123``, ``PROJ-12x`` no). A deployment may set its own pattern
(``connector_issue_key_pattern``: a regular expression with exactly two groups, the project
and the number) and an allowlist of project keys (``connector_project_keys``); with an
allowlist only its projects count, so ``UTF-8`` or ``SHA-256`` in a message link nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from gitward.errors import InvalidInput

DEFAULT_PATTERN: Final = r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]+)-([1-9][0-9]*)(?![A-Za-z0-9_])"
MAX_KEY_LENGTH: Final = 64
# A key mentioned in a message of megabytes is still only worth so many links.
MAX_KEYS_PER_TEXT: Final = 100
_SEARCH_FORM: Final = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-([0-9]+)$")


class InvalidIssueKeyRule(InvalidInput):
    """The configured issue-key pattern or allowlist cannot be used."""


@dataclass(frozen=True)
class IssueKeyRule:
    pattern: re.Pattern[str]
    projects: frozenset[str] = frozenset()  # empty: every project

    def keys_in(self, text: str) -> tuple[str, ...]:
        """The distinct keys in ``text``, in order of first mention."""
        found: dict[str, None] = {}
        for match in self.pattern.finditer(text):
            project, number = match.group(1), match.group(2)
            if self.projects and project not in self.projects:
                continue
            key = f"{project}-{number}"
            if len(key) <= MAX_KEY_LENGTH:
                found.setdefault(key, None)
                if len(found) >= MAX_KEYS_PER_TEXT:
                    break
        return tuple(found)


def make_rule(pattern: str | None = None, projects: Iterable[str] | str = ()) -> IssueKeyRule:
    """Compile the rule from the settings; a bad pattern says what is wrong with it."""
    source = pattern or DEFAULT_PATTERN
    try:
        compiled = re.compile(source)
    except re.error as exc:
        raise InvalidIssueKeyRule(
            f"the issue key pattern is not a valid regular expression: {exc}"
        ) from exc
    if compiled.groups != 2:
        raise InvalidIssueKeyRule(
            "the issue key pattern needs exactly two groups, the project and the number, "
            f"e.g. {DEFAULT_PATTERN}"
        )
    names = projects.split(",") if isinstance(projects, str) else list(projects)
    allowed = frozenset(n.strip() for n in names if n.strip())
    for name in allowed:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,30}", name):
            raise InvalidIssueKeyRule(f"{name[:40]!r} is not a project key like PROJ")
    return IssueKeyRule(compiled, allowed)


def normalise_search_key(text: str) -> str:
    """What ``search`` and the API accept: ``PROJ-123`` in any case, made upper-case."""
    value = text.strip()
    match = _SEARCH_FORM.match(value)
    if not match or len(value) > MAX_KEY_LENGTH:
        raise InvalidInput(f"{value[:40]!r} is not an issue key like PROJ-123")
    return f"{match.group(1).upper()}-{int(match.group(2))}"
