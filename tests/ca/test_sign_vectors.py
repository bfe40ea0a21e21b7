"""Certificates ssh-keygen 9.2 wrote (tests/vectors/ca, make_ca_vectors.sh): Gitward parses
each one, verifies it, and renders exactly the `ssh-keygen -L` text stored beside it."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from gitward.ca.certificate import (
    FOREVER,
    HOST_CERT,
    USER_CERT,
    Certificate,
    parse_certificate_line,
    verify_certificate_signature,
)
from gitward.ca.render import render_certificate
from gitward.ca.validity import parse_validity
from gitward.keys import load_public_key

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "ca"
NAMES = sorted(p.name.removesuffix("-cert.pub") for p in VECTORS.glob("*-cert.pub"))
JAN_2026 = (1_767_225_600, 1_769_904_000)


def _cert(name: str) -> Certificate:
    return parse_certificate_line((VECTORS / f"{name}-cert.pub").read_text())


def _blob(name: str) -> bytes:
    return load_public_key((VECTORS / f"{name}.pub").read_bytes()).blob


def test_vectors_exist() -> None:
    assert len(NAMES) >= 10, "run sh tests/vectors/make_ca_vectors.sh"


@pytest.mark.parametrize("name", NAMES, ids=[f"ok/{n}" for n in NAMES])
def test_parse_verify_and_render(name: str) -> None:
    cert = _cert(name)
    assert verify_certificate_signature(cert)
    expected = (VECTORS / f"{name}.L.txt").read_text()
    assert render_certificate(cert, f"{name}-cert.pub", UTC) == expected


def test_validity_forms_mean_what_ssh_keygen_meant() -> None:
    """Absolute forms give the same numbers; relative ones the same lengths."""
    for name in ("dates", "dates_z", "hex", "before", "after"):
        args = (VECTORS / f"{name}.args.txt").read_text().split()
        spec = args[args.index("-V") + 1]
        cert = _cert(name)
        assert parse_validity(spec, 0, UTC) == (cert.valid_after, cert.valid_before), name
    relative = _cert("relative")
    now = relative.valid_before - (52 * 7 + 1) * 86400
    assert parse_validity("+52w1d", now, UTC) == (relative.valid_after, relative.valid_before)
    ranged = _cert("range")
    assert ranged.valid_before - ranged.valid_after == 300 + 5400


def test_fields() -> None:
    forever = _cert("forever")
    assert (forever.valid_after, forever.valid_before, forever.principals) == (0, FOREVER, ())
    assert forever.signature_key == _blob("ca_ed25519")
    assert forever.public_key == _blob("user_ed25519")

    dates = _cert("dates")
    assert (dates.valid_after, dates.valid_before) == JAN_2026
    assert dates.principals == ("alice", "bob") and dates.serial == 17
    assert dates.signature_algorithm == "rsa-sha2-512"

    options = _cert("options")
    assert options.serial == 2**64 - 1
    assert dict(options.critical_options) == {
        "force-command": "git-upload-pack",
        "source-address": "10.0.0.0/8,2001:db8::/32",
        "verify-required": "",
        "x@example.com": "",
    }
    assert dict(options.extensions) == {
        "login@git.example.com": "alice",
        "no-touch-required": "",
        "permit-pty": "",
    }
    assert dict(_cert("no_defaults").extensions) == {}

    host = _cert("host")
    assert host.cert_type == HOST_CERT and host.principals == ("host.example.com", "10.0.0.1")
    assert dict(host.extensions) == {} and forever.cert_type == USER_CERT
