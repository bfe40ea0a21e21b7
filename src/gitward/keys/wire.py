"""The SSH wire encoding (RFC 4251 section 5): a strict reader and a writer.

The reader refuses short input with ``KeyFormatError`` and never allocates more than the
input holds: a length field is checked against the bytes that remain before anything is
sliced, so hostile input cannot ask for a huge buffer.
"""

from __future__ import annotations

import struct

from gitward.errors import KeyFormatError


class WireReader:
    """Reads SSH wire fields from a byte string, front to back."""

    def __init__(self, data: bytes, *, what: str = "key data") -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def _take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining:
            raise KeyFormatError(
                f"the {self._what} is truncated or damaged",
                cause=f"wanted {n} bytes at offset {self._pos}, {self.remaining} remain",
            )
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return chunk

    def raw(self, n: int) -> bytes:
        return self._take(n)

    def byte(self) -> int:
        return self._take(1)[0]

    def boolean(self) -> bool:
        return self.byte() != 0

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self._take(4))[0]
        return value

    def uint64(self) -> int:
        value: int = struct.unpack(">Q", self._take(8))[0]
        return value

    def string(self) -> bytes:
        return self._take(self.uint32())

    def text(self) -> str:
        raw = self.string()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise KeyFormatError(f"the {self._what} holds text that is not UTF-8") from exc

    def mpint(self) -> int:
        raw = self.string()
        return int.from_bytes(raw, "big", signed=True) if raw else 0

    def rest(self) -> bytes:
        return self._take(self.remaining)

    def expect_end(self) -> None:
        if self.remaining:
            raise KeyFormatError(
                f"the {self._what} has trailing bytes",
                cause=f"{self.remaining} unexpected bytes at offset {self._pos}",
            )


class WireWriter:
    """Builds SSH wire fields into a byte string."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def raw(self, data: bytes) -> WireWriter:
        self._parts.append(bytes(data))
        return self

    def byte(self, value: int) -> WireWriter:
        return self.raw(bytes([value]))

    def boolean(self, value: bool) -> WireWriter:
        return self.byte(1 if value else 0)

    def uint32(self, value: int) -> WireWriter:
        return self.raw(struct.pack(">I", value))

    def uint64(self, value: int) -> WireWriter:
        return self.raw(struct.pack(">Q", value))

    def string(self, data: bytes | str) -> WireWriter:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        return self.uint32(len(raw)).raw(raw)

    def mpint(self, value: int) -> WireWriter:
        if value == 0:
            return self.string(b"")
        length = (value.bit_length() + 8) // 8  # room for the sign bit
        return self.string(value.to_bytes(length, "big", signed=True))

    def getvalue(self) -> bytes:
        return b"".join(self._parts)
