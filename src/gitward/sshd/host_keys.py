"""The server's host keys: generated into the data directory on first start (mode 0600)."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

# OpenSSH's file names, so an administrator recognises them.
HOST_KEY_TYPES: tuple[tuple[str, str, dict[str, int]], ...] = (
    ("ssh_host_ed25519_key", "ssh-ed25519", {}),
    ("ssh_host_ecdsa_key", "ecdsa-sha2-nistp256", {}),
    ("ssh_host_rsa_key", "ssh-rsa", {"key_size": 3072}),
)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def load_or_create_host_keys(data_dir: Path) -> list[asyncssh.SSHKey]:
    keys = []
    for name, algorithm, params in HOST_KEY_TYPES:
        path = data_dir / name
        if not path.exists():
            key = asyncssh.generate_private_key(algorithm, comment=f"gitward {name}", **params)
            _write_private(path, key.export_private_key("openssh"))
            path.with_suffix(".pub").write_bytes(key.export_public_key("openssh"))
        keys.append(asyncssh.read_private_key(str(path)))
    return keys


def fingerprints(keys: list[asyncssh.SSHKey]) -> list[str]:
    return [f"{key.get_algorithm()} {key.get_fingerprint('sha256')}" for key in keys]
