"""git log's record format, parsed in chunks of any size, against real git output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitward.connector.log_records import InvalidLogOutput, LogFormat, LogParser, parse_all
from gitward.errors import GitwardError

ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "PATH": "/usr/bin:/bin",
    "GIT_AUTHOR_NAME": "Ann Ñ",
    "GIT_AUTHOR_EMAIL": "ann@example.com",
    "GIT_COMMITTER_NAME": "C",
    "GIT_COMMITTER_EMAIL": "c@example.com",
    "GIT_AUTHOR_DATE": "1700000000 +0000",
    "GIT_COMMITTER_DATE": "1700000000 +0000",
}


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("log")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "empty PROJ-1")
    for name in ("a", "b", "c"):
        (repo / name).write_text(name)
    _git(repo, "add", ".")
    # A hostile message: our marker shapes, NULs are impossible, control bytes are not.
    _git(repo, "commit", "-q", "-m", "three files\n\n\x1eGWfake\x1f body PROJ-2\n:100644 fake")
    return repo


def _run_log(repo: Path, fmt: LogFormat) -> bytes:
    return _git(
        repo,
        "log",
        "--all",
        "--no-renames",
        "--raw",
        "--no-abbrev",
        "--diff-merges=first-parent",
        fmt.argument,
    )


def test_ok_real_output_every_field(history: Path) -> None:
    fmt = LogFormat.fresh()
    records = list(parse_all(_run_log(history, fmt), fmt))
    assert [r.subject for r in records] == ["three files", "empty PROJ-1"]
    assert [r.files_changed for r in records] == [3, 0]
    first = records[0]
    assert first.author_name == "Ann Ñ" and first.author_email == "ann@example.com"
    assert first.authored_at == 1700000000 and len(first.sha) == 40
    assert "PROJ-2" in first.message


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=40))
def test_ok_any_chunking_gives_the_same_records(history: Path, cuts: list[int]) -> None:
    fmt = LogFormat("0123456789abcdef")
    data = _run_log(history, fmt)
    parser, records, pos = LogParser(fmt), [], 0
    for size in cuts:
        records += parser.feed(data[pos : pos + size])
        pos += size
    records += parser.feed(data[pos:])
    records += parser.close()
    assert records == list(parse_all(data, fmt))


def test_fail_output_of_another_shape() -> None:
    fmt = LogFormat.fresh()
    with pytest.raises(InvalidLogOutput):
        list(parse_all(b"commit 1234\nAuthor: x\n", fmt))
    with pytest.raises(InvalidLogOutput):
        list(parse_all(fmt.start + b"nonsense" + fmt.end, fmt))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_records_or_a_gitward_error(data: bytes) -> None:
    fmt = LogFormat("feedfacefeedface")
    try:
        list(parse_all(fmt.start + data, fmt))
        list(parse_all(data, fmt))
    except GitwardError:
        pass
