"""A minimal, strictly bounded DER walker: just enough ASN.1 to look inside the few
structures ``cryptography`` would otherwise trust blindly (KDF costs of encrypted PKCS#8,
PuTTY's short SEC1 scalars)."""

from __future__ import annotations

from gitward.errors import KeyFormatError

SEQUENCE = 0x30
OCTET_STRING = 0x04
INTEGER = 0x02
OID = 0x06

# DER-encoded OBJECT IDENTIFIER contents.
OID_PBES2 = bytes.fromhex("2a864886f70d01050d")  # 1.2.840.113549.1.5.13
OID_PBKDF2 = bytes.fromhex("2a864886f70d01050c")  # 1.2.840.113549.1.5.12
OID_SCRYPT = bytes.fromhex("2b06010401da47040b")  # 1.3.6.1.4.1.11591.4.11

# PBKDF2 at ten million iterations is seconds of work; OpenSSL writes 2048, cryptography
# and modern tools some hundred thousand. scrypt: N*r*p bounds time (OpenSSL itself caps
# its memory at 32 MiB).
MAX_PBKDF_ITERATIONS = 10_000_000
MAX_SCRYPT_WORK = 1 << 22


def items(der: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) elements of a run of DER TLVs. Every length is checked against
    the bytes present before slicing."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(der):
        if pos + 2 > len(der):
            raise KeyFormatError("the DER structure is truncated")
        tag, length = der[pos], der[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            if not 0 < count <= 3 or pos + count > len(der):
                raise KeyFormatError("the DER structure is damaged")
            length = int.from_bytes(der[pos : pos + count], "big")
            pos += count
        if pos + length > len(der):
            raise KeyFormatError("the DER structure is truncated")
        out.append((tag, der[pos : pos + length]))
        pos += length
    return out


def _sequence(content: tuple[int, bytes]) -> list[tuple[int, bytes]]:
    tag, body = content
    if tag != SEQUENCE:
        raise KeyFormatError("the DER structure is not what a key file holds")
    return items(body)


def _integer(element: tuple[int, bytes]) -> int:
    tag, body = element
    if tag != INTEGER or not body or len(body) > 8:
        raise KeyFormatError("the encrypted key's KDF parameters are out of range")
    return int.from_bytes(body, "big", signed=True)


def check_kdf_cost(encrypted_pkcs8: bytes) -> None:
    """Refuse an EncryptedPrivateKeyInfo whose KDF would cost minutes, before decrypting.

    Unknown layouts are left to ``cryptography`` (which refuses them anyway)."""
    outer = items(encrypted_pkcs8)
    if len(outer) != 1:
        raise KeyFormatError("the encrypted key has trailing data")
    algorithm = _sequence(_sequence(outer[0])[0])
    if len(algorithm) < 2 or algorithm[0][0] != OID:
        return
    oid, params = algorithm[0][1], _sequence(algorithm[1])
    if oid == OID_PBES2:
        kdf = _sequence(params[0]) if params else []
        if len(kdf) < 2 or kdf[0][0] != OID:
            return
        kdf_oid, kdf_params = kdf[0][1], _sequence(kdf[1])
        if kdf_oid == OID_PBKDF2 and len(kdf_params) >= 2:
            _check_iterations(_integer(kdf_params[1]))
        elif kdf_oid == OID_SCRYPT and len(kdf_params) >= 4:
            n, r, p = (_integer(e) for e in kdf_params[1:4])
            if min(n, r, p) < 1 or n * r * p > MAX_SCRYPT_WORK:
                raise KeyFormatError(
                    "the encrypted key's scrypt parameters ask for too much work",
                    cause=f"N={n} r={r} p={p}",
                )
    elif len(params) >= 2 and params[0][0] == OCTET_STRING:
        _check_iterations(_integer(params[1]))  # PBES1 / PKCS#12 PBE: salt, iterations


def _check_iterations(iterations: int) -> None:
    if not 0 < iterations <= MAX_PBKDF_ITERATIONS:
        raise KeyFormatError(
            f"the encrypted key asks for {iterations} KDF iterations "
            f"(at most {MAX_PBKDF_ITERATIONS} are allowed)",
            cause=f"iterations={iterations}",
        )
