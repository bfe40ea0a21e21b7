"""Thin file wrappers over the byte-level library: read a key file, write a private key
file created with mode 0600 (never widened then narrowed), write a public key file."""

from __future__ import annotations

import os
from pathlib import Path

from gitward.errors import KeyFormatError, KeyRejected
from gitward.keys.armor import MAX_KEY_FILE_BYTES

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


def read_key_file(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyFormatError(
            f"cannot read {os.fspath(path)}: {exc.strerror or exc}", cause=repr(exc)
        ) from exc
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFormatError(f"{os.fspath(path)} is too large to be a key")
    return data


def _write(path: str | os.PathLike[str], data: bytes, mode: int, *, overwrite: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        # The mode is given at creation, so the file is never readable by others, even
        # for an instant; an existing file keeps its mode, so narrow it before writing.
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), mode)
    except FileExistsError as exc:
        raise KeyRejected(
            f"{os.fspath(path)} already exists: choose another name or pass --force"
        ) from exc
    except OSError as exc:
        raise KeyRejected(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc
    try:
        if mode == PRIVATE_MODE:
            os.fchmod(fd, PRIVATE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise KeyRejected(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc


def write_private_key_file(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False
) -> None:
    _write(path, data, PRIVATE_MODE, overwrite=overwrite)


def write_public_key_file(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False
) -> None:
    _write(path, data, PUBLIC_MODE, overwrite=overwrite)


def public_path_for(path: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(path)}.pub")
