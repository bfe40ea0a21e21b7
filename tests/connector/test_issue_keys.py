"""The issue-key rule: the default (Jira's shape), a custom pattern, an allowlist."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitward.connector.issue_keys import (
    InvalidIssueKeyRule,
    make_rule,
    normalise_search_key,
)
from gitward.errors import GitwardError

DEFAULT = make_rule()

CASES = {
    "ok/plain": ("Fix PROJ-123 crash", ("PROJ-123",)),
    "ok/branch": ("feature/PROJ-7-login", ("PROJ-7",)),
    "ok/several-once": ("AB-1, AB-2 and AB-1 again (CD_9-30)", ("AB-1", "AB-2", "CD_9-30")),
    "ok/punctuated": ("[PROJ-1]: done.", ("PROJ-1",)),
    "ok/digits-in-project": ("A1-5", ("A1-5",)),
    "fail/lower-case": ("proj-123", ()),
    "fail/inside-word": ("xPROJ-1 and PROJ-1x", ()),
    "fail/leading-zero": ("PROJ-0123 PROJ-0", ()),
    "fail/one-letter-project": ("A-1", ()),
    "fail/digit-first": ("1A-1", ()),
    "fail/underscore-glued": ("_PROJ-1", ()),
}


@pytest.mark.parametrize("name", CASES)
def test_default_rule(name: str) -> None:
    text, expected = CASES[name]
    assert DEFAULT.keys_in(text) == expected


def test_ok_allowlist_keeps_only_its_projects() -> None:
    rule = make_rule(None, "PROJ, OPS")
    assert rule.keys_in("UTF-8 SHA-256 PROJ-1 OPS-2 WEB-3") == ("PROJ-1", "OPS-2")


def test_ok_custom_pattern() -> None:
    rule = make_rule(r"#([a-z]+)(\d+)\b")
    assert rule.keys_in("see #gh12 and #gh13") == ("gh-12", "gh-13")


@pytest.mark.parametrize(
    ("pattern", "projects", "said"),
    [
        ("(", "", "not a valid regular expression"),
        (r"([A-Z]+)", "", "exactly two groups"),
        (None, "PR OJ", "not a project key"),
    ],
    ids=["fail/syntax", "fail/groups", "fail/allowlist"],
)
def test_fail_bad_rules(pattern: str | None, projects: str, said: str) -> None:
    with pytest.raises(InvalidIssueKeyRule, match=said):
        make_rule(pattern, projects)


def test_search_key_normalised() -> None:
    assert normalise_search_key(" proj-123 ") == "PROJ-123"
    for bad in ("PROJ", "PROJ-", "-1", "PROJ-1; DROP", "x" * 70 + "-1"):
        with pytest.raises(GitwardError):
            normalise_search_key(bad)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_found_keys_are_well_formed_and_stable(text: str) -> None:
    keys = DEFAULT.keys_in(text)
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert key in text and normalise_search_key(key) == key


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="AB-1_0x ", max_size=40), st.text(alphabet="AB-1_0x ", max_size=40))
def test_a_key_is_found_whatever_surrounds_it_by_a_separator(left: str, right: str) -> None:
    assert "PROJ-42" in DEFAULT.keys_in(f"{left} PROJ-42 {right}")
