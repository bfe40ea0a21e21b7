"""KRLs (PROTOCOL.krl): encode, strict decode, revocation checks, and live ssh-keygen."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitward.ca.certificate import Certificate, parse_certificate_line
from gitward.ca.krl import (
    KRL_MAGIC,
    CertSection,
    Krl,
    decode_krl,
    encode_krl,
    is_revoked,
)
from gitward.ca.sign import PrivateKeySigner, sign_certificate
from gitward.errors import CertificateError
from gitward.keys import load_public_key
from gitward.keys.wire import WireWriter
from tests.ca.test_sign import key, request

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "ca"
CA = key("ed25519")
OTHER_CA = key("p256")
SUBJECT = key("ed25519", 1)


def cert(*, ca: Any = CA, **changes: Any) -> Certificate:
    return sign_certificate(request(**changes), PrivateKeySigner(ca))


def header(comment: bytes = b"", version: int = 1) -> WireWriter:
    return (
        WireWriter()
        .raw(KRL_MAGIC)
        .uint32(version)
        .uint64(3)
        .uint64(1_700_000_000)
        .uint64(0)
        .string(b"")
        .string(comment)
    )


def section(kind: int, data: bytes) -> bytes:
    return WireWriter().byte(kind).string(data).getvalue()


def cert_section(*subsections: bytes, ca: bytes | None = None) -> bytes:
    body = WireWriter().string(CA.public.blob if ca is None else ca).string(b"")
    for sub in subsections:
        body.raw(sub)
    return section(1, body.getvalue())


def u64s(*values: int) -> bytes:
    out = WireWriter()
    for value in values:
        out.uint64(value)
    return out.getvalue()


def bitmap(offset: int, raw: bytes) -> bytes:
    return section(0x22, WireWriter().uint64(offset).string(raw).getvalue())


FULL = Krl(
    version=9,
    generated_date=1_795_000_000,
    comment="gitward test ✓",
    cert_sections=(
        CertSection(CA.public.blob, ((1, 1), (5, 9), (2**64 - 1, 2**64 - 1)), ("a", "b c")),
        CertSection(None, ((77, 77),), ("anywhere",)),
    ),
    revoked_keys=(key("p384").public.blob,),
    revoked_sha1=(hashlib.sha1(b"x").digest(),),
    revoked_sha256=(hashlib.sha256(b"x").digest(),),
)


# --- encode / decode ------------------------------------------------------------------


def test_ok_round_trip() -> None:
    assert decode_krl(encode_krl(FULL)) == FULL


def test_ok_decode_normalises() -> None:
    messy = Krl(
        cert_sections=(
            CertSection(CA.public.blob, ((9, 12), (1, 1), (2, 3), (5, 6)), ("b", "a", "b")),
            CertSection(CA.public.blob, ((4, 4),), ("c",)),
        )
    )
    decoded = decode_krl(encode_krl(messy))
    assert decoded.cert_sections == (
        CertSection(CA.public.blob, ((1, 6), (9, 12)), ("a", "b", "c")),
    )


def test_ok_empty_krl() -> None:
    assert decode_krl(encode_krl(Krl())) == Krl()


BITMAPS: dict[str, tuple[bytes, tuple[tuple[int, int], ...]]] = {
    "ok/bitmap-runs": (bitmap(10, b"\x0b"), ((10, 11), (13, 13))),
    "ok/bitmap-leading-zero": (bitmap(1, b"\x00\x80"), ((8, 8),)),
    "ok/bitmap-empty": (bitmap(1, b""), ()),
    "ok/bitmap-top-serial": (bitmap(2**64 - 1, b"\x01"), ((2**64 - 1, 2**64 - 1),)),
    "ok/bitmap-max-size": (bitmap(1, b"\x00" + b"\xff" * 2048), ((1, 16384),)),
    "ok/range": (section(0x21, u64s(3, 3)), ((3, 3),)),
}


@pytest.mark.parametrize("name", BITMAPS)
def test_ok_serial_encodings(name: str) -> None:
    sub, ranges = BITMAPS[name]
    decoded = decode_krl(header().raw(cert_section(sub)).getvalue())
    assert decoded.cert_sections[0].serials == ranges


def _krl(*sections: bytes, **kw: Any) -> bytes:
    out = header(**kw)
    for item in sections:
        out.raw(item)
    return out.getvalue()


DECODE_FAIL: dict[str, bytes] = {
    "fail/empty": b"",
    "fail/bad-magic": b"SSHKRL\n\1" + _krl()[8:],
    "fail/format-version": _krl(version=2),
    "fail/truncated-header": _krl()[:30],
    "fail/comment-not-utf8": _krl(comment=b"\xff"),
    "fail/comment-nul": _krl(comment=b"a\0b"),
    "fail/unknown-section": _krl(section(6, b"")),
    "fail/section-zero": _krl(section(0, b"")),
    "fail/truncated-section": _krl(section(2, WireWriter().string(CA.public.blob).getvalue()))[:-1],
    "fail/unknown-cert-subsection": _krl(cert_section(section(0x24, b""))),
    "fail/serial-zero": _krl(cert_section(section(0x20, u64s(0)))),
    "fail/serial-list-partial": _krl(cert_section(section(0x20, u64s(5) + b"\0"))),
    "fail/range-reversed": _krl(cert_section(section(0x21, u64s(9, 3)))),
    "fail/range-from-zero": _krl(cert_section(section(0x21, u64s(0, 3)))),
    "fail/range-trailing": _krl(cert_section(section(0x21, u64s(1, 3, 4)))),
    "fail/bitmap-negative": _krl(cert_section(bitmap(1, b"\x80"))),
    "fail/bitmap-serial-zero": _krl(cert_section(bitmap(0, b"\x01"))),
    "fail/bitmap-wraps": _krl(cert_section(bitmap(2**64 - 1, b"\x02"))),
    "fail/bitmap-too-large": _krl(cert_section(bitmap(1, b"\x01" + b"\0" * 2048))),
    "fail/key-id-nul": _krl(cert_section(section(0x23, b"\0\0\0\x02a\0"))),
    "fail/key-id-not-utf8": _krl(cert_section(section(0x23, b"\0\0\0\x01\xff"))),
    "fail/ca-key-garbage": _krl(cert_section(ca=b"\0\0\0\x03a\x01c")),
    "fail/explicit-key-garbage": _krl(section(2, WireWriter().string(b"junk").getvalue())),
    "fail/ca-key-truncated": _krl(section(1, b"\0\0\0\x10abc")),
    "fail/sha1-length": _krl(section(3, WireWriter().string(b"x" * 32).getvalue())),
    "fail/sha256-length": _krl(section(5, WireWriter().string(b"x" * 20).getvalue())),
    "fail/explicit-key-empty": _krl(section(2, WireWriter().string(b"").getvalue())),
    "fail/section-after-signature": _krl(
        section(4, WireWriter().string(b"k").string(b"s").getvalue()), section(2, b"")
    ),
    "fail/signature-malformed": _krl(section(4, b"\0\0\0\x09")),
}


@pytest.mark.parametrize("name", DECODE_FAIL)
def test_decode_fail(name: str) -> None:
    with pytest.raises(CertificateError):
        decode_krl(DECODE_FAIL[name])


def test_ok_unreadable_key_types_stay_opaque() -> None:
    """A FIDO key we cannot parse must not make the whole KRL unusable."""
    sk = WireWriter().string("sk-ssh-ed25519@openssh.com").string(b"k" * 32).getvalue()
    krl = decode_krl(encode_krl(Krl(revoked_keys=(sk,), cert_sections=(CertSection(sk),))))
    assert krl.revoked_keys == (sk,) and krl.cert_sections == (CertSection(sk),)
    assert is_revoked(krl, sk)


def test_ok_signature_sections_are_skipped() -> None:
    signed = _krl(section(2, b""), section(4, WireWriter().string(b"k").string(b"s").getvalue()))
    assert decode_krl(signed).revoked_keys == ()


ENCODE_FAIL: dict[str, Krl] = {
    "fail/encode-serial-zero": Krl(cert_sections=(CertSection(None, ((0, 3),)),)),
    "fail/encode-range-reversed": Krl(cert_sections=(CertSection(None, ((5, 3),)),)),
    "fail/encode-serial-too-big": Krl(cert_sections=(CertSection(None, ((1, 2**64),)),)),
    "fail/encode-empty-key-id": Krl(cert_sections=(CertSection(None, (), ("",)),)),
    "fail/encode-bad-ca": Krl(cert_sections=(CertSection(b"\0\0\0\x05a b"),)),
    "fail/encode-sha1-length": Krl(revoked_sha1=(b"x",)),
    "fail/encode-sha256-length": Krl(revoked_sha256=(b"x" * 20,)),
    "fail/encode-bad-key": Krl(revoked_keys=(b"junk",)),
    "fail/encode-version": Krl(version=-1),
    "fail/encode-comment-nul": Krl(comment="a\0"),
}


@pytest.mark.parametrize("name", ENCODE_FAIL)
def test_encode_fail(name: str) -> None:
    with pytest.raises(CertificateError):
        encode_krl(ENCODE_FAIL[name])


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_only_certificate_error(data: bytes) -> None:
    with contextlib.suppress(CertificateError):
        decode_krl(data)


VALID = encode_krl(FULL)


@settings(max_examples=500)
@given(
    st.integers(0, len(VALID) - 1),
    st.integers(0, 255),
    st.integers(0, len(VALID)),
    st.binary(max_size=12),
)
def test_mutated_krl_only_certificate_error(
    position: int, value: int, cut: int, insert: bytes
) -> None:
    for data in (
        VALID[:position] + bytes([value]) + VALID[position + 1 :],
        VALID[:cut],
        VALID[:position] + insert + VALID[position:],
    ):
        try:
            decoded = decode_krl(data)
        except CertificateError:
            continue
        # Whatever decodes must encode again to something that decodes the same.
        assert decode_krl(encode_krl(decoded)) == decoded


def test_huge_length_fields_do_not_allocate() -> None:
    data = header().getvalue() + b"\x02\xff\xff\xff\xff"
    with pytest.raises(CertificateError):
        decode_krl(data)
    with pytest.raises(CertificateError, match="too large"):
        decode_krl(b"\0" * (64 * 1024 * 1024 + 1))


# --- is_revoked -----------------------------------------------------------------------


def _revoked(krl: Krl, subject: Certificate | bytes) -> bool:
    # Always through the wire, so the check sees what a KRL file holds.
    return is_revoked(decode_krl(encode_krl(krl)), subject)


REVOCATIONS: dict[str, tuple[Krl, Certificate | bytes, bool]] = {
    "ok/serial-listed": (
        Krl(cert_sections=(CertSection(CA.public.blob, ((7, 7),)),)),
        cert(serial=7),
        True,
    ),
    "ok/serial-in-range": (
        Krl(cert_sections=(CertSection(CA.public.blob, ((5, 9),)),)),
        cert(serial=7),
        True,
    ),
    "ok/serial-outside": (
        Krl(cert_sections=(CertSection(CA.public.blob, ((8, 9),)),)),
        cert(serial=7),
        False,
    ),
    "ok/serial-zero-never": (
        Krl(cert_sections=(CertSection(CA.public.blob, ((1, 9),)),)),
        cert(serial=0),
        False,
    ),
    "ok/key-id": (
        Krl(cert_sections=(CertSection(CA.public.blob, (), ("alice@laptop",)),)),
        cert(),
        True,
    ),
    "ok/key-id-other": (
        Krl(cert_sections=(CertSection(CA.public.blob, (), ("bob",)),)),
        cert(),
        False,
    ),
    "ok/other-ca": (
        Krl(cert_sections=(CertSection(OTHER_CA.public.blob, ((7, 7),)),)),
        cert(serial=7),
        False,
    ),
    "ok/any-ca-key-id": (
        Krl(cert_sections=(CertSection(None, (), ("alice@laptop",)),)),
        cert(ca=OTHER_CA),
        True,
    ),
    "ok/any-ca-serial": (
        Krl(cert_sections=(CertSection(None, ((7, 7),)),)),
        cert(ca=OTHER_CA, serial=7),
        True,
    ),
    "ok/subject-key": (Krl(revoked_keys=(SUBJECT.public.blob,)), cert(), True),
    "ok/subject-sha1": (
        Krl(revoked_sha1=(hashlib.sha1(SUBJECT.public.blob).digest(),)),
        cert(),
        True,
    ),
    "ok/subject-sha256": (
        Krl(revoked_sha256=(hashlib.sha256(SUBJECT.public.blob).digest(),)),
        cert(),
        True,
    ),
    "ok/ca-key-revoked": (Krl(revoked_keys=(CA.public.blob,)), cert(), True),
    "ok/plain-key": (Krl(revoked_keys=(SUBJECT.public.blob,)), SUBJECT.public.blob, True),
    "ok/plain-key-other": (Krl(revoked_keys=(SUBJECT.public.blob,)), CA.public.blob, False),
    "ok/plain-key-sha256": (
        Krl(revoked_sha256=(hashlib.sha256(CA.public.blob).digest(),)),
        CA.public.blob,
        True,
    ),
    "ok/empty": (Krl(), cert(), False),
}


@pytest.mark.parametrize("name", REVOCATIONS)
def test_is_revoked(name: str) -> None:
    krl, subject, expected = REVOCATIONS[name]
    assert _revoked(krl, subject) is expected


# --- ssh-keygen -k vector and live ssh-keygen -------------------------------------------


def _pub(name: str) -> bytes:
    return load_public_key((VECTORS / f"{name}.pub").read_bytes()).blob


def test_ok_ssh_keygen_vector() -> None:
    krl = decode_krl((VECTORS / "ssh-keygen.krl").read_bytes())
    assert krl.version == 42
    assert krl.cert_sections == (
        CertSection(_pub("ca_ed25519"), ((5, 5), (10, 20), (100, 100)), ("stolen laptop",)),
    )
    assert krl.revoked_keys == (_pub("revoked_key"),)
    assert krl.revoked_sha1 == (hashlib.sha1(_pub("sha1_key")).digest(),)
    assert set(krl.revoked_sha256) == {
        hashlib.sha256(_pub("sha256_key")).digest(),
        hashlib.sha256(_pub("hash_key")).digest(),
    }
    # And back: our encoding of it holds the same entries.
    assert decode_krl(encode_krl(krl)) == krl


needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (OpenSSH) is not installed"
)


def _keygen_revoked(tmp_path: Path, krl_file: Path, line: str) -> bool:
    target = tmp_path / "query.pub"
    target.write_text(line + "\n")
    proc = subprocess.run(
        ["ssh-keygen", "-Q", "-f", str(krl_file), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert ("REVOKED" in proc.stdout) is (proc.returncode == 1), proc.stdout
    return proc.returncode == 1


def _public_line(blob: bytes) -> str:
    import base64

    from gitward.keys.wire import WireReader

    return f"{WireReader(blob).text()} {base64.b64encode(blob).decode()}"


@needs_ssh_keygen
def test_live_ssh_keygen_checks_our_krl(tmp_path: Path) -> None:
    revoked_key = key("p384", 5)
    krl = Krl(
        cert_sections=(
            CertSection(
                CA.public.blob, ((7, 7), (20, 29), (2**64 - 1, 2**64 - 1)), ("stolen laptop",)
            ),
            CertSection(None, (), ("revoked everywhere",)),
        ),
        revoked_keys=(revoked_key.public.blob,),
        revoked_sha1=(hashlib.sha1(key("rsa", 5).public.blob).digest(),),
        revoked_sha256=(hashlib.sha256(key("p521", 5).public.blob).digest(),),
    )
    path = tmp_path / "gitward.krl"
    path.write_bytes(encode_krl(krl))
    cases: dict[str, tuple[str, bool]] = {
        "serial 7": (cert(serial=7).to_line(), True),
        "serial 25 in range": (cert(serial=25).to_line(), True),
        "serial max": (cert(serial=2**64 - 1).to_line(), True),
        "serial 8": (cert(serial=8).to_line(), False),
        "serial 0": (cert(serial=0).to_line(), False),
        "key id": (cert(serial=8, key_id="stolen laptop").to_line(), True),
        "any-CA key id": (cert(ca=OTHER_CA, key_id="revoked everywhere").to_line(), True),
        "other CA serial 7": (cert(ca=OTHER_CA, serial=7).to_line(), False),
        "explicit key": (_public_line(revoked_key.public.blob), True),
        "explicit key's cert": (cert(serial=8, public_key=revoked_key.public.blob).to_line(), True),
        "sha1 key": (_public_line(key("rsa", 5).public.blob), True),
        "sha256 key": (_public_line(key("p521", 5).public.blob), True),
        "innocent key": (_public_line(key("ed25519", 9).public.blob), False),
    }
    for label, (line, expected) in cases.items():
        parsed: Certificate | bytes = (
            parse_certificate_line(line)
            if "-cert-" in line.split()[0]
            else load_public_key(line.encode()).blob
        )
        assert is_revoked(krl, parsed) is expected, label
        assert _keygen_revoked(tmp_path, path, line) is expected, label


@needs_ssh_keygen
def test_live_ssh_keygen_k_decodes(tmp_path: Path) -> None:
    ca_pub = tmp_path / "ca.pub"
    ca_pub.write_text(_public_line(OTHER_CA.public.blob) + "\n")
    victim = tmp_path / "victim.pub"
    victim.write_text(_public_line(key("ed25519", 7).public.blob) + "\n")
    spec = tmp_path / "spec"
    spec.write_text(
        "serial: 3\nserial: 1000-1000000\nserial: 18446744073709551615\n"
        f"id: lost phone\nkey: {victim.read_text()}sha256: {victim.read_text()}"
    )
    out = tmp_path / "out.krl"
    subprocess.run(
        ["ssh-keygen", "-q", "-k", "-f", str(out), "-s", str(ca_pub), str(spec)],
        check=True,
        capture_output=True,
    )
    krl = decode_krl(out.read_bytes())
    assert krl.cert_sections == (
        CertSection(
            OTHER_CA.public.blob,
            ((3, 3), (1000, 1_000_000), (2**64 - 1, 2**64 - 1)),
            ("lost phone",),
        ),
    )
    assert krl.revoked_keys == (key("ed25519", 7).public.blob,)
    assert krl.revoked_sha256 == (hashlib.sha256(key("ed25519", 7).public.blob).digest(),)
    # Updating it (-u) with one more serial keeps everything and adds the serial.
    spec.write_text("serial: 5\n")
    subprocess.run(
        ["ssh-keygen", "-q", "-k", "-u", "-f", str(out), "-s", str(ca_pub), str(spec)],
        check=True,
        capture_output=True,
    )
    updated = decode_krl(out.read_bytes())
    assert updated.cert_sections[0].serials == (
        (3, 3),
        (5, 5),
        (1000, 1_000_000),
        (2**64 - 1, 2**64 - 1),
    )
    assert replace(
        updated, cert_sections=krl.cert_sections, generated_date=0, version=0
    ) == replace(krl, generated_date=0, version=0)
