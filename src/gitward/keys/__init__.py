"""Gitward's key tools: read every common SSH key format, write every format, and say
exactly why a key does not fit a client. A pure library (bytes in, bytes out); the thin
file wrappers live in ``gitward.keys.files`` and the CLI in ``gitward.cli.keys``."""

from gitward.keys.api import (
    detect_format,
    export_private_key,
    export_public_key,
    inspect_key,
    load_private_key,
    load_public_key,
)
from gitward.keys.codec import Argon2Params
from gitward.keys.diagnose import Diagnosis, Target, diagnose, diagnose_all, parse_target
from gitward.keys.files import read_key_file, write_private_key_file, write_public_key_file
from gitward.keys.fingerprint import fingerprint_md5, fingerprint_sha256
from gitward.keys.formats import PRIVATE_TARGETS, PUBLIC_TARGETS
from gitward.keys.generate import generate_key
from gitward.keys.model import (
    Algorithm,
    KeyFormat,
    KeyInfo,
    PassphraseRequired,
    PrivateKey,
    PublicKey,
)

__all__ = [
    "PRIVATE_TARGETS",
    "PUBLIC_TARGETS",
    "Algorithm",
    "Argon2Params",
    "Diagnosis",
    "KeyFormat",
    "KeyInfo",
    "PassphraseRequired",
    "PrivateKey",
    "PublicKey",
    "Target",
    "detect_format",
    "diagnose",
    "diagnose_all",
    "export_private_key",
    "export_public_key",
    "fingerprint_md5",
    "fingerprint_sha256",
    "generate_key",
    "inspect_key",
    "load_private_key",
    "load_public_key",
    "parse_target",
    "read_key_file",
    "write_private_key_file",
    "write_public_key_file",
]
