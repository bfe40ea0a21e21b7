"""RFC 4716 ("SSH2" / SECSH) public keys: what ``ssh-keygen -e`` and ``puttygen -p`` write.

    ---- BEGIN SSH2 PUBLIC KEY ----
    Comment: "rsa-key-20240101"
    AAAAB3NzaC1yc2EAAAADAQABAAABAQ...
    ---- END SSH2 PUBLIC KEY ----

Header lines are ``Tag: value``; a value continues on the next line when its line ends
with a backslash. Lines are at most 72 bytes.
"""

from __future__ import annotations

from gitward.errors import KeyFormatError
from gitward.keys import algorithms as algs
from gitward.keys.armor import b64decode, b64encode, check_size, to_text, wrap
from gitward.keys.codec import FormatCodec
from gitward.keys.model import KeyFormat, KeyInfo, PublicKey

BEGIN = "---- BEGIN SSH2 PUBLIC KEY ----"
END = "---- END SSH2 PUBLIC KEY ----"
LINE_WIDTH = 70  # what ssh-keygen writes; the RFC allows 72


def sniff(data: bytes) -> bool:
    return BEGIN.encode() in data[:4096]


def _headers_and_body(lines: list[str]) -> tuple[dict[str, str], str]:
    headers: dict[str, str] = {}
    i = 0
    while i < len(lines) and ":" in lines[i]:
        tag, _, value = lines[i].partition(":")
        value = value.strip()
        while value.endswith("\\"):  # continuation
            i += 1
            if i >= len(lines):
                raise KeyFormatError("the RFC 4716 key ends inside a header")
            value = value[:-1] + lines[i].strip()
        headers[tag.strip().lower()] = value
        i += 1
    return headers, "".join(lines[i:])


def load_public(data: bytes) -> PublicKey:
    check_size(data)
    text = to_text(data, what="public key file")
    lines = [ln.strip() for ln in text.splitlines()]
    try:
        start = lines.index(BEGIN)
        end = lines.index(END, start)
    except ValueError as exc:
        raise KeyFormatError("the RFC 4716 public key block is incomplete") from exc
    headers, body = _headers_and_body(lines[start + 1 : end])
    comment = headers.get("comment", "")
    if len(comment) >= 2 and comment[0] == comment[-1] == '"':
        comment = comment[1:-1]
    key = algs.decode_public_blob(b64decode(body, what="RFC 4716 public key"))
    return PublicKey(key, comment)


def peek(data: bytes) -> KeyInfo:
    public = load_public(data)
    return KeyInfo(KeyFormat.RFC4716, False, False, public.algorithm, public, public.comment)


def _header_lines(tag: str, value: str) -> list[str]:
    """``Tag: value``, continued with backslashes so no line passes LINE_WIDTH."""
    line = f"{tag}: {value}"
    out: list[str] = []
    while len(line) > LINE_WIDTH:
        out.append(line[: LINE_WIDTH - 1] + "\\")
        line = line[LINE_WIDTH - 1 :]
    return [*out, line]


def write_public(key: PublicKey) -> bytes:
    lines = [BEGIN]
    comment = " ".join(key.comment.split()).replace('"', "'")
    if comment:
        lines += _header_lines("Comment", f'"{comment}"')
    lines += wrap(b64encode(key.blob), LINE_WIDTH)
    lines.append(END)
    return ("\n".join(lines) + "\n").encode("utf-8")


CODEC = FormatCodec(
    format=KeyFormat.RFC4716,
    description="RFC 4716 public key (ssh-keygen -e, puttygen -p)",
    is_private=False,
    sniff=sniff,
    peek=peek,
    load_public=load_public,
    write_public=write_public,
)
