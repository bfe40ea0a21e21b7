"""Why a key does (not) fit a target, and the one command that fixes it.

A target is a kind of client that will use the key file as it is: OpenSSH (``ssh -i``),
PuTTY, PEM-only clients (JSch-based Git integrations, which answer everything but an RSA
key in PKCS#1 PEM with "SSH key format is invalid"), and Gitward itself (a user key to
upload). Format problems are fixed by ``gitward keys convert``; algorithm problems only
by a new key, since no conversion turns an Ed25519 key into an RSA key.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

from gitward.errors import KeyRejected
from gitward.keys.model import Algorithm, KeyFormat, KeyInfo


class Target(StrEnum):
    OPENSSH = "openssh"
    PUTTY = "putty"
    PEM_ONLY = "pem-only"
    GITWARD = "gitward"


TARGET_ALIASES = {"jsch": Target.PEM_ONLY, "ssh": Target.OPENSSH}
TARGET_NAMES = tuple(t.value for t in Target) + tuple(TARGET_ALIASES)
TARGET_LABELS = {
    Target.OPENSSH: "OpenSSH clients",
    Target.PUTTY: "PuTTY",
    Target.PEM_ONLY: "PEM-only clients (JSch-based integrations)",
    Target.GITWARD: "Gitward",
}

GITWARD_MIN_RSA_BITS = 2048
ALGORITHM_NAMES = {
    Algorithm.RSA: "RSA",
    Algorithm.ED25519: "Ed25519",
    Algorithm.ECDSA: "ECDSA",
    Algorithm.DSA: "DSA",
    Algorithm.ED448: "Ed448",
}
# Private formats that OpenSSH reads itself or through OpenSSL.
OPENSSH_READS = {
    KeyFormat.OPENSSH,
    KeyFormat.PKCS1,
    KeyFormat.SEC1,
    KeyFormat.DSA_PEM,
    KeyFormat.PKCS8,
}
PUBLIC_FORMATS = {
    KeyFormat.OPENSSH_PUBLIC,
    KeyFormat.RFC4716,
    KeyFormat.SPKI,
    KeyFormat.PKCS1_PUBLIC,
}
_KEY_SUFFIXES = {".ppk", ".pem", ".key", ".openssh", ".pkcs8", ".pk8", ".der", ".sshcom"}


@dataclass(frozen=True)
class Diagnosis:
    target: Target
    usable: bool
    reason: str  # one sentence: what the key is and why it fits or does not
    fix: str | None = None  # the command that makes it fit, when there is one

    @property
    def message(self) -> str:
        return f"{self.reason}: {self.fix}" if self.fix else self.reason


def parse_target(name: str) -> Target:
    try:
        return TARGET_ALIASES.get(name) or Target(name)
    except ValueError:
        raise KeyRejected(
            f"unknown target {name[:30]!r}: choose one of {', '.join(TARGET_NAMES)}"
        ) from None


def _article(phrase: str) -> str:
    """``a`` or ``an`` by how the phrase is spoken (RSA, ECDSA, Ed25519, 8192-bit...)."""
    spoken_vowel = phrase[:1].lower() in "aeio8" or phrase.startswith(("RSA", "11", "18"))
    return f"{'an' if spoken_vowel else 'a'} {phrase}"


def describe(info: KeyInfo) -> str:
    """``an OpenSSH-format Ed25519 key``, ``a PuTTY .ppk file (version 3, RSA)`` ..."""
    algo = ALGORITHM_NAMES[info.algorithm] if info.algorithm else ""
    if info.algorithm is Algorithm.RSA and info.bits:
        algo = f"{info.bits}-bit RSA"
    encrypted = "encrypted " if info.encrypted else ""
    key = f"{algo} key" if algo else "key"
    match info.format:
        case KeyFormat.OPENSSH:
            return _article(f"{encrypted}OpenSSH-format {key}")
        case KeyFormat.PPK2 | KeyFormat.PPK3:
            version = 3 if info.format is KeyFormat.PPK3 else 2
            return f"a PuTTY .ppk file (version {version}, {encrypted}{algo})"
        case KeyFormat.PKCS1 | KeyFormat.SEC1 | KeyFormat.DSA_PEM:
            kind = {KeyFormat.PKCS1: "PKCS#1", KeyFormat.SEC1: "SEC1"}.get(info.format, "")
            return _article(f"{encrypted}{key} in {kind} PEM".replace("  ", " "))
        case KeyFormat.PKCS8:
            return _article(f"{encrypted}PKCS#8 {key}")
        case KeyFormat.DER:
            return _article(f"{encrypted}binary DER {key}")
        case KeyFormat.SSHCOM:
            return _article(f"{encrypted}ssh.com-format {key}")
        case _:
            return f"only a public key ({algo}, {info.format})"


def _with_suffix(path: str, suffix: str) -> str:
    """The output name a fix suggests: the input's stem with the new suffix, never the
    input's own name."""
    p = PurePath(path)
    stem = str(p.with_suffix("")) if p.suffix in _KEY_SUFFIXES else path
    out = f"{stem}{suffix}"
    if out == path:
        out = f"{stem}-converted{suffix}"
    return shlex.quote(out)


def _convert(path: str, to: str, suffix: str) -> str:
    return (
        f"run `gitward keys convert {shlex.quote(path)} --to {to} -o {_with_suffix(path, suffix)}`"
    )


def _generate(args: str) -> str:
    return f"generate one with `gitward keys generate {args} -f KEY`"


def _gitward(info: KeyInfo) -> Diagnosis:
    what = describe(info)
    new_key = _generate("-t ed25519")
    if info.algorithm in (Algorithm.DSA, Algorithm.ED448):
        name = ALGORITHM_NAMES[info.algorithm]
        return Diagnosis(
            Target.GITWARD,
            False,
            f"this is {what}; Gitward refuses {name} keys and accepts Ed25519, ECDSA and "
            f"RSA ({GITWARD_MIN_RSA_BITS} bits or more)",
            new_key,
        )
    if info.algorithm is Algorithm.RSA and (info.bits or 0) < GITWARD_MIN_RSA_BITS:
        return Diagnosis(
            Target.GITWARD,
            False,
            f"this is {what}; Gitward refuses RSA keys under {GITWARD_MIN_RSA_BITS} bits",
            new_key,
        )
    return Diagnosis(Target.GITWARD, True, f"this is {what}; Gitward accepts it")


def _openssh(info: KeyInfo, path: str) -> Diagnosis:
    what = describe(info)
    if info.format in PUBLIC_FORMATS:
        if info.format is KeyFormat.OPENSSH_PUBLIC:
            return Diagnosis(Target.OPENSSH, True, f"this is {what}; it fits authorized_keys")
        return Diagnosis(
            Target.OPENSSH,
            False,
            f"this is {what}; OpenSSH wants the one-line form",
            _convert(path, "public", ".pub"),
        )
    if info.algorithm in (Algorithm.DSA, Algorithm.ED448):
        why = (
            "OpenSSH has no Ed448"
            if info.algorithm is Algorithm.ED448
            else ("OpenSSH disabled DSA keys in 7.0 and removed them in 9.8")
        )
        return Diagnosis(Target.OPENSSH, False, f"this is {what}; {why}", _generate("-t ed25519"))
    readable = info.format in OPENSSH_READS and not (
        # OpenSSH reads PKCS#8 through OpenSSL only for RSA and ECDSA keys.
        info.format is KeyFormat.PKCS8
        and info.algorithm is not Algorithm.RSA
        and info.algorithm is not Algorithm.ECDSA
    )
    if readable:
        return Diagnosis(Target.OPENSSH, True, f"this is {what}; OpenSSH reads it as is")
    return Diagnosis(
        Target.OPENSSH,
        False,
        f"this is {what}; OpenSSH cannot read it",
        _convert(path, "openssh", ".openssh"),
    )


def _putty(info: KeyInfo, path: str) -> Diagnosis:
    what = describe(info)
    if info.format in PUBLIC_FORMATS:
        return Diagnosis(Target.PUTTY, False, f"this is {what}; PuTTY needs the private key")
    if info.format is KeyFormat.PPK2:
        return Diagnosis(Target.PUTTY, True, f"this is {what}; every PuTTY version reads it")
    if info.format is KeyFormat.PPK3:
        return Diagnosis(
            Target.PUTTY,
            True,
            f"this is {what}; PuTTY 0.75 and later read it (older ones need `--to ppk2`)",
        )
    return Diagnosis(
        Target.PUTTY,
        False,
        f"this is {what}; PuTTY reads only .ppk files",
        _convert(path, "ppk", ".ppk"),
    )


def _pem_only(info: KeyInfo, path: str) -> Diagnosis:
    what = describe(info)
    need = "PEM-only clients need an RSA key in PEM (BEGIN RSA PRIVATE KEY)"
    if info.format in PUBLIC_FORMATS:
        return Diagnosis(Target.PEM_ONLY, False, f"this is {what}; {need}, the private key")
    if info.algorithm is not Algorithm.RSA:
        return Diagnosis(
            Target.PEM_ONLY,
            False,
            f"this is {what}; {need}",
            _generate("-t rsa -b 4096 --format pem"),
        )
    if info.format is KeyFormat.PKCS1:
        return Diagnosis(Target.PEM_ONLY, True, f"this is {what}; PEM-only clients read it")
    return Diagnosis(
        Target.PEM_ONLY, False, f"this is {what}; {need}", _convert(path, "pem", ".pem")
    )


def diagnose(info: KeyInfo, target: Target | str, *, path: str = "KEY") -> Diagnosis:
    """Whether the key file described by ``info`` is usable as is by ``target``.
    ``path`` is the file's name, used in the command that fixes it."""
    chosen = parse_target(target) if not isinstance(target, Target) else target
    if info.algorithm is None and chosen is not Target.PUTTY:
        return Diagnosis(
            chosen,
            False,
            f"this is {describe(info)} whose algorithm only its passphrase reveals",
            "give the passphrase (--passphrase-env VAR) to check it",
        )
    if chosen is Target.GITWARD:
        return _gitward(info)
    if chosen is Target.OPENSSH:
        return _openssh(info, path)
    if chosen is Target.PUTTY:
        return _putty(info, path)
    return _pem_only(info, path)


def diagnose_all(info: KeyInfo, *, path: str = "KEY") -> list[Diagnosis]:
    return [diagnose(info, target, path=path) for target in Target]
