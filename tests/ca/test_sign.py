"""Issuing certificates: -O options, request checks, encoding, round trips (pure)."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

from gitward.ca.certificate import (
    FOREVER,
    HOST_CERT,
    USER_CERT,
    parse_certificate,
    verify_certificate_signature,
)
from gitward.ca.sign import (
    CertificateRequest,
    CertOptions,
    CustomOption,
    PrivateKeySigner,
    apply_option,
    sign_certificate,
)
from gitward.errors import CertificateError
from gitward.keys import PrivateKey, generate_key
from gitward.keys.wire import WireReader, WireWriter

KEY_KINDS = {
    "ed25519": ("ed25519", None),
    "p256": ("ecdsa", 256),
    "p384": ("ecdsa", 384),
    "p521": ("ecdsa", 521),
    "rsa": ("rsa", 2048),
}
PERMITS = (
    ("permit-X11-forwarding", None),
    ("permit-agent-forwarding", None),
    ("permit-port-forwarding", None),
    ("permit-pty", None),
    ("permit-user-rc", None),
)


@functools.cache
def key(kind: str, index: int = 0) -> PrivateKey:
    del index  # part of the cache key only
    algorithm, bits = KEY_KINDS[kind]
    return generate_key(algorithm, bits, f"{kind}@test")


def request(**changes: Any) -> CertificateRequest:
    base = CertificateRequest(
        public_key=key("ed25519", 1).public.blob,
        key_id="alice@laptop",
        serial=7,
        principals=("alice",),
        valid_after=1_767_225_600,
        valid_before=1_769_904_000,
        extensions=PERMITS,
        nonce=b"\x05" * 32,
    )
    return replace(base, **changes)


def ca() -> PrivateKeySigner:
    return PrivateKeySigner(key("ed25519"))


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("subject", KEY_KINDS, ids=[f"ok/subject-{k}" for k in KEY_KINDS])
@pytest.mark.parametrize("authority", KEY_KINDS, ids=[f"ca-{k}" for k in KEY_KINDS])
def test_round_trip_every_key_type(authority: str, subject: str) -> None:
    signer = PrivateKeySigner(key(authority))
    req = request(public_key=key(subject, 1).public.blob)
    cert = sign_certificate(req, signer)
    again = parse_certificate(cert.blob)
    assert verify_certificate_signature(again)
    assert again.public_key == key(subject, 1).public.blob
    assert again.signature_key == key(authority).public.blob
    assert (again.serial, again.key_id, again.principals) == (7, "alice@laptop", ("alice",))
    assert (again.valid_after, again.valid_before) == (req.valid_after, req.valid_before)
    assert dict(again.extensions) == {name: "" for name, _ in PERMITS}
    assert again.nonce == b"\x05" * 32
    expected = "rsa-sha2-512" if authority == "rsa" else key(authority).public.ssh_type
    assert again.signature_algorithm == expected
    line = cert.to_line("comment")
    assert line.startswith(f"{key(subject, 1).public.ssh_type}-cert-v01@openssh.com ")
    assert line.endswith(" comment")


def test_ok_host_certificate_any_principal_forever() -> None:
    req = request(
        cert_type=HOST_CERT,
        principals=(),
        any_principal=True,
        extensions=(),
        valid_after=0,
        valid_before=FOREVER,
    )
    cert = sign_certificate(req, ca())
    assert cert.cert_type == HOST_CERT and cert.principals == () and cert.never_expires


def test_ok_options_are_written_sorted_and_typed() -> None:
    req = request(
        critical_options=(
            ("verify-required", None),
            ("force-command", "ls -l"),
            ("source-address", "10.0.0.0/8"),
        ),
        extensions=(("permit-pty", None), ("login@x", "alice"), ("empty@x", "")),
    )
    cert = sign_certificate(req, ca())
    assert list(cert.critical_options) == ["force-command", "source-address", "verify-required"]
    assert list(cert.extensions) == ["empty@x", "login@x", "permit-pty"]
    # Flags have empty data; values (even empty ones) are a nested string.
    raw = _raw_extensions(cert.blob, cert.public_key)
    assert raw == [("empty@x", b"\0\0\0\0"), ("login@x", b"\0\0\0\x05alice"), ("permit-pty", b"")]


def _raw_extensions(blob: bytes, public_key: bytes) -> list[tuple[str, bytes]]:
    reader = WireReader(blob)
    reader.string()
    reader.string()
    plain = WireReader(public_key).string()
    reader.raw(len(public_key) - 4 - len(plain))
    reader.uint64(), reader.uint32(), reader.string(), reader.string()
    reader.uint64(), reader.uint64(), reader.string()
    ext = WireReader(reader.string())
    found = []
    while ext.remaining:
        found.append((ext.string().decode(), ext.string()))
    return found


def test_ok_random_nonce_by_default() -> None:
    a = sign_certificate(request(nonce=None), ca())
    b = sign_certificate(request(nonce=None), ca())
    assert len(a.nonce) == 32 and a.nonce != b.nonce


def test_ok_subject_key_is_reencoded_canonically() -> None:
    # A leading zero byte on the Ed25519 field length is not possible, but RSA's mpint
    # can carry a needless 0x00: the certificate gets the minimal encoding.
    rsa_key = key("rsa", 1).public
    assert isinstance(rsa_key.key, rsa.RSAPublicKey)
    numbers = rsa_key.key.public_numbers()
    padded_e = b"\0" + numbers.e.to_bytes(3, "big")
    n = numbers.n.to_bytes((numbers.n.bit_length() + 8) // 8, "big")
    odd = WireWriter().string("ssh-rsa").string(padded_e).string(n).getvalue()
    cert = sign_certificate(request(public_key=odd), ca())
    assert cert.public_key == rsa_key.blob


# --- -O options (ssh-keygen's add_cert_option) ----------------------------------------

USER = CertOptions.for_type(USER_CERT)

OPTIONS_OK: dict[str, tuple[list[str], tuple[Any, ...], tuple[Any, ...]]] = {
    # name: (-O strings, critical options, extensions)
    "ok/defaults": ([], (), PERMITS),
    "ok/clear": (["clear"], (), ()),
    "ok/clear-then-pty": (["clear", "permit-pty"], (), (("permit-pty", None),)),
    "ok/no-pty": (["no-pty"], (), tuple(p for p in PERMITS if p[0] != "permit-pty")),
    "ok/case-insensitive": (["CLEAR", "Permit-PTY"], (), (("permit-pty", None),)),
    "ok/every-no": (
        ["no-x11-forwarding", "no-agent-forwarding", "no-port-forwarding", "no-pty", "no-user-rc"],
        (),
        (),
    ),
    "ok/every-permit-after-clear": (
        [
            "clear",
            "permit-x11-forwarding",
            "permit-agent-forwarding",
            "permit-port-forwarding",
            "permit-pty",
            "permit-user-rc",
        ],
        (),
        PERMITS,
    ),
    "ok/force-command": (
        ["clear", "force-command=git-upload-pack 'a b'"],
        (("force-command", "git-upload-pack 'a b'"),),
        (),
    ),
    "ok/clear-keeps-force-command": (["force-command=ls", "clear"], (("force-command", "ls"),), ()),
    "ok/source-address": (
        ["clear", "source-address=10.0.0.0/8,::1"],
        (("source-address", "10.0.0.0/8,::1"),),
        (),
    ),
    "ok/verify-required": (["clear", "verify-required"], (("verify-required", None),), ()),
    "ok/no-verify-required": (["clear", "verify-required", "no-verify-required"], (), ()),
    "ok/no-touch-required": (["clear", "no-touch-required"], (), (("no-touch-required", None),)),
    "ok/touch-required": (["clear", "no-touch-required", "touch-required"], (), ()),
    "ok/extension-flag": (["clear", "extension:foo@x"], (), (("foo@x", None),)),
    "ok/extension-value": (["clear", "extension:login@x=a=b"], (), (("login@x", "a=b"),)),
    "ok/extension-empty-value": (["clear", "extension:e@x="], (), (("e@x", ""),)),
    "ok/critical-flag": (["clear", "critical:c@x"], (("c@x", None),), ()),
    "ok/critical-value": (["clear", "critical:c@x=v"], (("c@x", "v"),), ()),
    "ok/sorted-like-openssh": (
        ["extension:zz", "extension:aa", "force-command=x", "critical:a@x", "verify-required"],
        (("a@x", None), ("force-command", "x"), ("verify-required", None)),
        (("aa", None), *PERMITS, ("zz", None)),
    ),
    # strcmp order: upper case before lower case ("permit-X11" < "permit-agent").
    "ok/byte-order": (
        ["clear", "extension:permit-a", "extension:permit-Z"],
        (),
        (("permit-Z", None), ("permit-a", None)),
    ),
}


@pytest.mark.parametrize("name", OPTIONS_OK)
def test_options_ok(name: str) -> None:
    texts, critical, extensions = OPTIONS_OK[name]
    state = USER
    for text in texts:
        state = apply_option(state, text)
    assert state.critical_options() == critical
    assert state.extensions() == extensions
    # Everything apply_option accepts can be signed into a user certificate.
    cert = sign_certificate(request().with_options(state), ca())
    assert tuple(cert.critical_options) == tuple(name for name, _ in critical)


OPTIONS_FAIL: dict[str, list[str]] = {
    "fail/unknown": ["bogus"],
    "fail/empty-force-command": ["force-command="],
    "fail/force-command-twice": ["force-command=a", "force-command=b"],
    "fail/empty-source-address": ["source-address="],
    "fail/bad-source-address": ["source-address=bad"],
    "fail/source-address-hostname": ["source-address=example.com"],
    "fail/source-address-twice": ["source-address=::1", "source-address=::1"],
    "fail/prefix-without-colon": ["extension"],
}


@pytest.mark.parametrize("name", OPTIONS_FAIL)
def test_options_fail(name: str) -> None:
    state = USER
    with pytest.raises(CertificateError):
        for text in OPTIONS_FAIL[name]:
            state = apply_option(state, text)


def test_host_options_start_empty() -> None:
    assert CertOptions.for_type(HOST_CERT).extensions() == ()
    assert apply_option(USER, "extension:a").custom == (CustomOption("a", None, False),)


# --- refusals (in the documented order) -----------------------------------------------


class _CertificateSigner:
    """A signer whose 'public key' is a certificate (a CA key must never be one)."""

    def __init__(self) -> None:
        self.public_blob = sign_certificate(request(), ca()).blob

    def sign(self, data: bytes) -> bytes:
        raise AssertionError("must not be asked to sign")


class _WrongKeySigner:
    """Claims one key, signs with another (a confused agent)."""

    public_blob = key("ed25519").public.blob

    def sign(self, data: bytes) -> bytes:
        return PrivateKeySigner(key("ed25519", 2)).sign(data)


class _Sha1Signer:
    public_blob = key("rsa").public.blob

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        private = key("rsa").key
        assert isinstance(private, rsa.RSAPrivateKey)
        raw = private.sign(data, padding.PKCS1v15(), hashes.SHA1())
        return WireWriter().string("ssh-rsa").string(raw).getvalue()


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "fail/subject-is-certificate": ({"public_key": "CERT"}, "is a certificate"),
    "fail/subject-garbage": ({"public_key": b"\0\0\0\x03abc"}, "not a valid public key"),
    "fail/cert-type": ({"cert_type": 3}, "unknown certificate type"),
    "fail/serial-negative": ({"serial": -1}, "serial"),
    "fail/serial-too-big": ({"serial": 2**64}, "serial"),
    "fail/key-id-empty": ({"key_id": ""}, "key id"),
    "fail/key-id-newline": ({"key_id": "a\nb"}, "control characters"),
    "fail/key-id-nul": ({"key_id": "a\0b"}, "control characters"),
    "fail/no-principals-implicitly": ({"principals": ()}, "no principals"),
    "fail/principals-and-any": ({"any_principal": True}, "any_principal"),
    "fail/principal-empty": ({"principals": ("a", "")}, "empty"),
    "fail/principal-newline": ({"principals": ("a\nb",)}, "control"),
    "fail/too-many-principals": ({"principals": tuple(f"p{i}" for i in range(257))}, "256"),
    "fail/validity-reversed": ({"valid_after": 10, "valid_before": 5}, "empty"),
    "fail/validity-equal": ({"valid_after": 5, "valid_before": 5}, "empty"),
    "fail/validity-overflow": ({"valid_before": 2**64}, "64 bits"),
    "fail/host-with-extension": ({"cert_type": HOST_CERT}, "host certificates take no"),
    "fail/duplicate-extension": ({"extensions": (("a", None), ("a", "x"))}, "twice"),
    "fail/duplicate-critical": (
        {"critical_options": (("force-command", "a"), ("force-command", "b"))},
        "twice",
    ),
    "fail/option-name-space": ({"extensions": (("a b", None),)}, "printable"),
    "fail/option-name-empty": ({"extensions": (("", None),)}, "printable"),
    "fail/option-value-nul": ({"extensions": (("a", "x\0"),)}, "NUL"),
    "fail/force-command-empty": ({"critical_options": (("force-command", ""),)}, "empty"),
    "fail/force-command-flag": ({"critical_options": (("force-command", None),)}, "empty"),
    "fail/source-address-bad": (
        {"critical_options": (("source-address", "10.0.0.0/8 "),)},
        "source-address",
    ),
    "fail/verify-required-value": ({"critical_options": (("verify-required", "yes"),)}, "flag"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused(name: str) -> None:
    changes, words = REFUSED[name]
    if changes.get("public_key") == "CERT":
        changes = {"public_key": sign_certificate(request(), ca()).blob}
    with pytest.raises(CertificateError) as info:
        sign_certificate(request(**changes), ca())
    assert words in info.value.message


@pytest.mark.parametrize(
    ("signer", "words"),
    [
        (_CertificateSigner, "is a certificate"),
        (_WrongKeySigner, "does not verify"),
        (_Sha1Signer, "weak RSA signature"),
    ],
    ids=["fail/ca-is-certificate", "fail/signer-wrong-key", "fail/signer-sha1"],
)
def test_refused_signers(signer: type, words: str) -> None:
    with pytest.raises(CertificateError) as info:
        sign_certificate(request(), signer())
    assert words in info.value.message


def test_refused_dsa_ca() -> None:
    dsa_key = PrivateKey(dsa.generate_private_key(1024))
    with pytest.raises(CertificateError, match="cannot be a certificate authority"):
        PrivateKeySigner(dsa_key)


def test_refused_order_ca_first() -> None:
    """Several problems at once: the first documented check is the one reported."""
    with pytest.raises(CertificateError, match="is a certificate"):
        sign_certificate(request(serial=-1, key_id=""), _CertificateSigner())
    with pytest.raises(CertificateError, match="serial"):
        sign_certificate(request(serial=-1, key_id=""), ca())
