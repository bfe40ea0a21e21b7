"""The userauth algorithm name must fit the key it carries (issue 12, item 5)."""

from __future__ import annotations

import pytest

from gitward.access.identity import public_key_algorithm_fits

ALGORITHM_CASES = [
    ("ok/ed25519", "ssh-ed25519", "ssh-ed25519", True),
    ("ok/rsa-sha2-256", "rsa-sha2-256", "ssh-rsa", True),
    (
        "ok/rsa-sha2-512-cert",
        "rsa-sha2-512-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
        True,
    ),
    (
        "ok/ecdsa-cert",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        True,
    ),
    ("fail/rsa-name-for-ed25519", "ssh-rsa", "ssh-ed25519", False),
    ("fail/rsa-sha2-for-ed25519", "rsa-sha2-256", "ssh-ed25519", False),
    ("fail/plain-name-for-cert", "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", False),
    ("fail/cert-name-for-plain", "ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519", False),
    ("fail/other-curve", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp256", False),
]


@pytest.mark.parametrize(
    ("case", "algorithm", "key_type", "fits"), ALGORITHM_CASES, ids=[c[0] for c in ALGORITHM_CASES]
)
def test_public_key_algorithm_fits(case: str, algorithm: str, key_type: str, fits: bool) -> None:
    assert public_key_algorithm_fits(algorithm, key_type) is fits
