"""Reading ``git log`` output as commit records, streamed. Pure: bytes in, records out.

git/mirror.py runs ``git log --format=LOG_FORMAT --raw --no-renames ...`` and feeds its
standard output here chunk by chunk, so memory stays bounded however long the history is.

Each commit is printed as ``START sha NUL time NUL name NUL email NUL message END`` and
then one ``:``-line per file it changed (``--raw``). The markers carry a nonce chosen per
run: a commit message may hold any byte (a hostile upstream may write our markers into
one), but it cannot hold a nonce made after it was written. Names and messages that are not
UTF-8 are read with replacement characters; nothing here raises on any input except
``InvalidLogOutput`` (the stream does not have the shape asked for).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from gitward.errors import GitwardError

MAX_SUBJECT: Final = 500
MAX_NAME: Final = 200
MAX_MESSAGE: Final = 64 * 1024  # keys are looked for in the first 64 KiB of a message


class InvalidLogOutput(GitwardError):
    """git log printed something that is not the record format asked for."""


@dataclass(frozen=True)
class CommitRecord:
    sha: str
    authored_at: int  # seconds since the epoch
    author_name: str
    author_email: str
    subject: str
    message: str
    files_changed: int


@dataclass(frozen=True)
class LogFormat:
    nonce: str

    @classmethod
    def fresh(cls) -> LogFormat:
        return cls(secrets.token_hex(8))

    @property
    def start(self) -> bytes:
        return b"\x1eGW" + self.nonce.encode() + b"\x1f"

    @property
    def end(self) -> bytes:
        return b"\x1eGW" + self.nonce.encode() + b"E\x1f"

    @property
    def argument(self) -> str:
        """The ``--format=`` value for git log."""
        mark = f"%x1eGW{self.nonce}"
        return f"--format={mark}%x1f%H%x00%at%x00%an%x00%ae%x00%B{mark}E%x1f"


class LogParser:
    """Feed chunks of git log's output; get the commits completed so far."""

    def __init__(self, fmt: LogFormat) -> None:
        self._start = fmt.start
        self._end = fmt.end
        self._buffer = b""
        self._seen_start = False

    def feed(self, chunk: bytes) -> list[CommitRecord]:
        buffer = self._buffer + chunk if self._buffer else chunk
        records: list[CommitRecord] = []
        first = buffer.find(self._start)
        if first < 0:
            self._buffer = buffer
            self._check_prefix()
            return records
        if first > 0 and not self._seen_start:
            raise InvalidLogOutput("git log output does not start with a record")
        size = len(self._start)
        while True:
            following = buffer.find(self._start, first + size)
            if following < 0:
                break
            records.append(self._record(buffer[first + size : following]))
            self._seen_start = True
            first = following
        # One slice per chunk, not per record: the tail is the unfinished record.
        self._buffer = buffer[first:]
        return records

    def close(self) -> list[CommitRecord]:
        """The last record, once the stream has ended."""
        rest, self._buffer = self._buffer, b""
        if not rest.strip():
            return []
        if not rest.startswith(self._start):
            raise InvalidLogOutput("git log output ends with a partial record")
        return [self._record(rest[len(self._start) :])]

    def _check_prefix(self) -> None:
        if (
            not self._seen_start
            and len(self._buffer) > len(self._start)
            and not (self._start.startswith(self._buffer[: len(self._start)]))
        ):
            raise InvalidLogOutput("git log output does not start with a record")

    def _record(self, raw: bytes) -> CommitRecord:
        head, sep, diff = raw.partition(self._end)
        if not sep:
            raise InvalidLogOutput("a git log record has no end marker")
        fields = head.split(b"\x00", 4)
        if len(fields) != 5:
            raise InvalidLogOutput("a git log record has too few fields")
        sha, stamp, name, email, message = fields
        if not (len(sha) in (40, 64) and sha.isalnum() and stamp.isdigit() and len(stamp) < 20):
            raise InvalidLogOutput("a git log record has no commit id or time")
        text = message[:MAX_MESSAGE].decode("utf-8", errors="replace")
        subject = text.split("\n", 1)[0].strip()
        return CommitRecord(
            sha=sha.decode("ascii").lower(),
            authored_at=int(stamp),
            author_name=_text(name),
            author_email=_text(email),
            subject=subject[:MAX_SUBJECT],
            message=text,
            files_changed=_count_files(diff),
        )


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace").strip()[:MAX_NAME]


def _count_files(diff: bytes) -> int:
    # --raw: one line per changed path, starting with ':' (never in a path: git quotes
    # paths with newlines, so every line of this section is a raw line or empty).
    return diff.count(b"\n:") + diff.startswith(b":")


def parse_all(data: bytes, fmt: LogFormat) -> Iterator[CommitRecord]:
    """The records of a whole output at once (tests, small histories)."""
    parser = LogParser(fmt)
    yield from parser.feed(data)
    yield from parser.close()
