"""Text helpers shared by the formats: strict base64, PEM-style armor, line wrapping."""

from __future__ import annotations

import base64
import binascii
import re

from gitward.errors import KeyFormatError

# Key files are small. Anything bigger is not a key, and refusing it early keeps hostile
# input from costing memory or time in the parsers.
MAX_KEY_FILE_BYTES = 1 << 20


def check_size(data: bytes) -> None:
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFormatError("the file is too large to be a key", cause=f"{len(data)} bytes")


def b64decode(text: str | bytes, *, what: str = "key") -> bytes:
    """Base64 without tolerance for stray characters (whitespace is removed first)."""
    compact = re.sub(
        rb"\s+", b"", text.encode("ascii", "replace") if isinstance(text, str) else text
    )
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"the {what} is not valid base64", cause=repr(exc)) from exc


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def to_text(data: bytes, *, what: str = "key file") -> str:
    """Decode a text key file; refuse binary input with a clear message."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyFormatError(f"the {what} is not text", cause=repr(exc)) from exc
    return text.lstrip("\ufeff")


def pem_armor(label: str, body: bytes, *, width: int = 64) -> bytes:
    lines = [f"-----BEGIN {label}-----", *wrap(b64encode(body), width), f"-----END {label}-----"]
    return ("\n".join(lines) + "\n").encode("ascii")


def pem_body(data: bytes, label: str) -> bytes:
    """The decoded body between ``-----BEGIN label-----`` and its END line.

    Found with plain substring search: a regex over hostile input with many BEGIN lines
    and no END line would rescan the rest of the file from each of them."""
    text = to_text(data)
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start >= 0 else -1
    if stop < 0:
        raise KeyFormatError(f"the {label} block is incomplete")
    return b64decode(text[start + len(begin) : stop], what=label)


_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def pem_labels(data: bytes) -> list[str]:
    """The labels of every PEM block, in order (``EC PARAMETERS``, ``PRIVATE KEY`` ...)."""
    return [m.group(1).decode("ascii") for m in _PEM_LABEL.finditer(data[:MAX_KEY_FILE_BYTES])]
