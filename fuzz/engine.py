"""A small, seeded mutation fuzzer: deterministic for a given seed, no dependencies.

Each input is a seed from the target's corpus, damaged by one to four mutations: bit
flips, "interesting" bytes (0x00, 0x7f, 0x80, 0xff), SSH length fields set to 0, to
0xffffffff or off by one, truncation, insertion, deletion, duplication of a range, a
splice with another seed, and, for text seeds holding base64 (key lines, certificates,
.ppk and PEM bodies), the same damage applied to the decoded bytes and re-encoded, so
that the wire parsers behind the text formats are reached too.

``run_target`` feeds a target inputs until a count or a time budget is spent and returns
its figures and findings (inputs whose exception is not one the target documents, or that
took longer than ``SLOW_SECONDS``), each with the input that caused it.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
import struct
import time
import traceback
from dataclasses import dataclass, field

from fuzz.targets import SLOW_SECONDS, Target

_INTERESTING_BYTES = (0x00, 0x01, 0x02, 0x03, 0x04, 0x7F, 0x80, 0xFF, 0x0A, 0x3D)
_INTERESTING_U32 = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")


@dataclass
class Finding:
    error: str
    where: str
    data: bytes


@dataclass
class Figures:
    target: str
    inputs: int = 0
    seconds: float = 0.0
    allowed_errors: int = 0
    accepted: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def distinct_findings(self) -> dict[str, Finding]:
        out: dict[str, Finding] = {}
        for f in self.findings:
            out.setdefault(f"{f.error.split(':')[0]} at {f.where}", f)
        return out


class Mutator:
    def __init__(self, seeds: list[bytes], rng: random.Random, *, base64_aware: bool) -> None:
        self.seeds = seeds or [b""]
        self.rng = rng
        self.base64_aware = base64_aware

    def next(self) -> bytes:
        data = bytearray(self.rng.choice(self.seeds))
        if self.base64_aware and self.rng.random() < 0.5:
            mutated = self._inside_base64(bytes(data))
            if mutated is not None:
                return mutated
        for _ in range(self.rng.randint(1, 4)):
            self._mutate(data)
        return bytes(data)

    def _inside_base64(self, data: bytes) -> bytes | None:
        runs = list(_BASE64_RUN.finditer(data))
        if not runs:
            return None
        run = self.rng.choice(runs)
        raw = re.sub(rb"\s", b"", run.group(0))
        try:
            decoded = bytearray(base64.b64decode(raw + b"=" * (-len(raw) % 4)))
        except (binascii.Error, ValueError):
            return None
        for _ in range(self.rng.randint(1, 3)):
            self._mutate(decoded)
        return data[: run.start()] + base64.b64encode(bytes(decoded)) + data[run.end() :]

    def _mutate(self, data: bytearray) -> None:
        rng = self.rng
        kind = rng.randrange(9)
        pos = rng.randrange(len(data) + 1)
        if kind == 0 and data:  # flip bits
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:  # an interesting byte
            data[min(pos, len(data) - 1)] = rng.choice(_INTERESTING_BYTES)
        elif kind == 2 and len(data) >= 4:  # an SSH length field
            at = self._length_field(data)
            current = struct.unpack(">I", data[at : at + 4])[0]
            value = rng.choice((*_INTERESTING_U32, current + 1, max(current - 1, 0)))
            data[at : at + 4] = struct.pack(">I", value & 0xFFFFFFFF)
        elif kind == 3:  # truncate
            del data[pos:]
        elif kind == 4:  # insert random bytes
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif kind == 5 and data:  # delete a range
            del data[pos : pos + rng.randint(1, 32)]
        elif kind == 6 and data:  # duplicate a range
            start = rng.randrange(len(data))
            chunk = data[start : start + rng.randint(1, 64)]
            data[pos:pos] = chunk * rng.randint(1, 8)
        elif kind == 7:  # splice with another seed
            other = rng.choice(self.seeds)
            cut = rng.randrange(len(other) + 1)
            data[pos:] = other[cut:]
        else:  # repeat a byte many times (long fields, deep nesting)
            if data:
                data[pos:pos] = bytes([data[min(pos, len(data) - 1)]]) * rng.choice(
                    (64, 1024, 65536)
                )

    def _length_field(self, data: bytearray) -> int:
        """Usually the offset of a plausible SSH length field (a small big-endian uint32
        that fits in what follows), else any offset."""
        candidates = [
            i
            for i in range(0, min(len(data) - 4, 4096))
            if data[i] == 0 and struct.unpack(">I", data[i : i + 4])[0] <= len(data) - i - 4
        ]
        if candidates and self.rng.random() < 0.8:
            return self.rng.choice(candidates)
        return self.rng.randrange(len(data) - 3)


def check(target: Target, data: bytes, figures: Figures) -> None:
    """Run ``target`` on one input and record the outcome in ``figures``."""
    started = time.perf_counter()
    try:
        target.run(data)
        figures.accepted += 1
    except target.allowed:
        figures.allowed_errors += 1
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{frame.filename.rsplit('/src/', 1)[-1]}:{frame.lineno}"
        figures.findings.append(Finding(f"{type(exc).__name__}: {str(exc)[:160]}", where, data))
    elapsed = time.perf_counter() - started
    if elapsed > SLOW_SECONDS:
        figures.findings.append(Finding(f"slow: {elapsed:.1f} s", "(time)", data))


def run_target(
    target: Target, *, seed: int, max_inputs: int | None = None, seconds: float | None = None
) -> Figures:
    """Feed ``target`` its seeds, then mutated inputs, until a budget is spent."""
    rng = random.Random(f"{seed}:{target.name}")
    seeds = target.seeds()
    mutator = Mutator(seeds, rng, base64_aware=target.base64_aware)
    figures = Figures(target.name)
    started = time.perf_counter()
    for data in seeds:  # every seed itself first
        check(target, data, figures)
        figures.inputs += 1
    while True:
        if max_inputs is not None and figures.inputs >= max_inputs:
            break
        if seconds is not None and time.perf_counter() - started >= seconds:
            break
        check(target, mutator.next(), figures)
        figures.inputs += 1
    figures.seconds = time.perf_counter() - started
    return figures
