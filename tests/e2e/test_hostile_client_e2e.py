"""The SSH protocol from a hostile client (issue 12, item 5), against a real `gitward serve`.

Hand-built userauth requests go through asyncssh's client with its public-key method
replaced (for this test process only) by one that sends exactly the fields a case names;
the rest (garbage after the banner, the Terrapin scan) is raw bytes on a socket. Each
request is refused or the connection dropped, the server keeps serving (a clone right
after works), and its log holds the reason. The harness fails any test during which the
server printed a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import asyncssh
import asyncssh.auth
import pytest
from asyncssh.packet import Boolean, String

from gitward.services import accounts, authorities, orgs, repositories
from gitward.services.context import Context
from tests.ca.certbuilder import build, make_key, public_blob
from tests.conftest import VECTORS
from tests.e2e.harness import Client, Server
from tests.e2e.test_observability_e2e import scrape, value

MakeClient = Callable[..., Client]
MSG_USERAUTH_PK_OK = 60


# -- a client that sends what it is told -------------------------------------------------


@dataclass
class Request:
    """One publickey userauth request: its fields as sent, and how to sign it."""

    algorithm: bytes
    key_blob: bytes
    sign: Callable[[bytes], bytes] | None = None  # None: an unsigned query


@dataclass
class Script(asyncssh.SSHClient):
    requests: list[Request] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)


class _ScriptedAuth(asyncssh.auth.ClientAuth):
    """Sends the next request of the connection's script; records the server's answer."""

    def _script(self) -> Script:
        owner = self._conn._owner  # the SSHClient the client_factory made
        assert isinstance(owner, Script)
        return owner

    async def _start(self) -> None:
        script = self._script()
        if not script.requests:
            self._conn.try_next_auth(next_method=True)
            return
        request = script.requests.pop(0)
        signer = None
        if request.sign is not None:
            signer = _Signer(request.sign)
        await self.send_request(
            Boolean(request.sign is not None),
            String(request.algorithm),
            String(request.key_blob),
            key=signer,  # type: ignore[arg-type]
            trivial=False,
        )

    def auth_succeeded(self) -> None:
        self._script().answers.append("success")

    def auth_failed(self) -> None:
        self._script().answers.append("failure")

    def _pk_ok(self, _pkttype: int, _pktid: int, packet: Any) -> None:
        self._script().answers.append("pk_ok")
        self._conn.try_next_auth()

    _packet_handlers: ClassVar[dict[int, Callable[..., None]]] = {MSG_USERAUTH_PK_OK: _pk_ok}


@dataclass
class _Signer:
    sign: Callable[[bytes], bytes]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(asyncssh.auth._client_auth_handlers, b"publickey", _ScriptedAuth)
    yield


def run_script(server: Server, requests: list[Request], username: str = "git") -> list[str]:
    """Connect, send ``requests`` in order, return the answers ("failure", "pk_ok",
    "success", or "dropped" when the server closed the connection)."""
    script = Script(list(requests))

    async def main() -> None:
        try:
            conn = await asyncio.wait_for(
                asyncssh.connect(
                    "127.0.0.1",
                    server.port,
                    username=username,
                    known_hosts=None,
                    config=None,
                    client_factory=lambda: script,
                    preferred_auth="publickey",
                    agent_path=None,
                ),
                30,
            )
        except asyncssh.PermissionDenied:
            return
        except (asyncssh.Error, OSError, asyncio.IncompleteReadError):
            script.answers.append("dropped")
            return
        conn.close()
        await conn.wait_closed()

    asyncio.run(main())
    return script.answers


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


@dataclass
class Alice:
    key: asyncssh.SSHKey
    client: Client

    @property
    def blob(self) -> bytes:
        return bytes(self.key.public_data)

    def signer(self, tamper: Callable[[bytes], bytes] = lambda d: d) -> Callable[[bytes], bytes]:
        return lambda data: bytes(self.key.sign(tamper(data), b"ssh-ed25519"))


@pytest.fixture
def alice(admin: Context, make_client: MakeClient) -> Alice:
    client = make_client()
    name = f"hc-{os.urandom(3).hex()}"
    accounts.create_user(admin, name)
    accounts.add_key(admin, name, Path(f"{client.key}.pub").read_bytes())
    repositories.create_repo(admin, f"{name}/app")
    client.ssh_user = "git"
    client.repo = f"{name}/app"  # type: ignore[attr-defined]
    return Alice(asyncssh.read_private_key(str(client.key)), client)


def still_serving(alice: Alice) -> None:
    cloned = alice.client.clone(alice.client.repo)  # type: ignore[attr-defined]
    assert cloned.code == 0, cloned.err


# -- userauth requests ---------------------------------------------------------------------


def _compressed_blob() -> bytes:
    line = (VECTORS / "hostile" / "ecdsa256_compressed.pub").read_text()
    return base64.b64decode(line.split()[1])


def _cert_blob(**changes: Any) -> bytes:
    return build(subject=make_key("ed25519"), **changes)


def _bad_signature_cert() -> bytes:
    cert = bytearray(_cert_blob())
    cert[-5] ^= 0x40  # inside the CA's signature
    return bytes(cert)


def _wrong_length_cert() -> bytes:
    cert = bytearray(_cert_blob())
    # The nonce's length field (after the type string) claims more than the blob holds.
    at = 4 + struct.unpack(">I", cert[:4])[0]
    cert[at : at + 4] = struct.pack(">I", len(cert) * 2)
    return bytes(cert)


CERT = b"ssh-ed25519-cert-v01@openssh.com"
QUERIES = {
    "fail/blob-not-a-key": (b"ssh-ed25519", os.urandom(64), "key.unparsable"),
    "fail/blob-short-key": (
        b"ssh-ed25519",
        _string(b"ssh-ed25519") + _string(b"\x01" * 5),
        "key.unparsable",
    ),
    "fail/blob-compressed-point": (b"ecdsa-sha2-nistp256", _compressed_blob(), "key.unparsable"),
    "fail/cert-wrong-signature": (CERT, _bad_signature_cert(), "cert.bad_signature"),
    "fail/cert-wrong-lengths": (CERT, _wrong_length_cert(), "cert.unparsable"),
    "fail/cert-trailing-bytes": (CERT, _cert_blob() + b"\x00", "cert.unparsable"),
    "fail/algorithm-not-the-keys": (b"ssh-rsa", b"", "key.unparsable"),
}


@pytest.fixture(scope="module")
def trusted_ca(admin: Context) -> None:
    """The test-only certificate builder's CA, trusted by an organization: a certificate
    it "signed" with a damaged signature then fails on the signature, not on the CA."""
    orgs.create_org(admin, "hc-org")
    line = b"ssh-ed25519 " + base64.b64encode(public_blob(make_key("ed25519", 1)))
    authorities.add_ca(admin, line, org="hc-org")


@pytest.mark.parametrize("case", sorted(QUERIES))
def test_fail_hostile_queries_are_refused_with_a_reason(
    case: str, server: Server, alice: Alice, scripted: None, trusted_ca: None
) -> None:
    algorithm, blob, reason = QUERIES[case]
    offset = server.log_size()
    # The hostile query, then the real key's query on the same connection: the first is
    # refused and the connection stays usable (the second is accepted, PK_OK).
    answers = run_script(server, [Request(algorithm, blob), Request(b"ssh-ed25519", alice.blob)])
    assert answers == ["failure", "pk_ok"], answers
    assert reason in server.log_since(offset)
    still_serving(alice)


def test_fail_algorithm_name_that_does_not_match_the_key(
    server: Server, alice: Alice, scripted: None
) -> None:
    offset = server.log_size()
    answers = run_script(
        server,
        [
            Request(b"ssh-rsa", alice.blob),  # query: an Ed25519 key called RSA
            Request(b"ecdsa-sha2-nistp256", alice.blob, alice.signer()),  # signed
            Request(b"ssh-ed25519", alice.blob, alice.signer()),  # the honest request
        ],
    )
    assert answers == ["failure", "failure", "success"], answers
    log = server.log_since(offset)
    assert "key.algorithm_mismatch" in log and "'ssh-rsa' for a 'ssh-ed25519' key" in log
    # An operator sees them too, under the reason code.
    decisions = value(
        scrape(server),
        "gitward_ssh_auth_decisions_total",
        outcome="denied",
        reason="key.algorithm_mismatch",
    )
    assert decisions >= 2
    still_serving(alice)


def test_fail_signature_over_the_wrong_data(server: Server, alice: Alice, scripted: None) -> None:
    offset = server.log_size()
    answers = run_script(
        server,
        [
            Request(b"ssh-ed25519", alice.blob, alice.signer(lambda d: d + b"x")),
            Request(b"ssh-ed25519", alice.blob, alice.signer(lambda d: d[4:])),  # no session id
            Request(b"ssh-ed25519", alice.blob, lambda _d: os.urandom(83)),  # garbage
        ],
    )
    assert answers == ["failure", "failure", "failure"], answers
    log = server.log_since(offset)
    assert log.count("key.bad_signature") >= 3
    still_serving(alice)


def test_fail_a_1_mib_key_blob_is_dropped(server: Server, alice: Alice, scripted: None) -> None:
    huge = _string(b"ssh-ed25519") + _string(os.urandom(1 << 20))
    offset = server.log_size()
    answers = run_script(server, [Request(b"ssh-ed25519", huge)])
    assert answers in (["dropped"], ["failure"]), answers
    assert "ssh_connection_dropped" in server.log_since(offset) or answers == ["failure"]
    still_serving(alice)


# -- raw bytes -----------------------------------------------------------------------------


def _raw(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    banner = sock.recv(256)
    assert banner.startswith(b"SSH-2.0-")
    return sock


def _closed_by_server(sock: socket.socket, timeout: float = 15) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_fail_garbage_after_the_banner_is_dropped(server: Server, alice: Alice) -> None:
    offset = server.log_size()
    for garbage in (
        os.urandom(4096),
        b"\xff\xff\xff\xff" + os.urandom(64),  # a 4 GiB packet length
        struct.pack(">IB", 12, 250) + b"\x00" * 11,  # padding longer than the packet
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        with _raw(server) as sock:
            sock.sendall(b"SSH-2.0-hostile\r\n" + garbage)
            assert _closed_by_server(sock), garbage[:16]
    with _raw(server) as sock:  # not even a banner
        sock.sendall(b"\x00" * 300 + b"\r\n")
        assert _closed_by_server(sock)
    assert server.log_since(offset).count("ssh_connection_dropped") >= 5
    still_serving(alice)


def _packet(payload: bytes) -> bytes:
    """An unencrypted binary packet (RFC 4253 section 6), block size 8."""
    padding = 8 - (len(payload) + 5) % 8
    if padding < 4:
        padding += 8
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + b"\x00" * padding


def _kexinit(kex: bytes) -> bytes:
    lists = [
        kex,
        b"ssh-ed25519",
        b"aes128-ctr",
        b"aes128-ctr",
        b"hmac-sha2-256",
        b"hmac-sha2-256",
        b"none",
        b"none",
        b"",
        b"",
    ]
    body = bytes([20]) + os.urandom(16) + b"".join(_string(n) for n in lists)
    return body + b"\x00" + b"\x00\x00\x00\x00"


def _terrapin_probe(server: Server, kex: bytes) -> bool:
    """Send KEXINIT then SSH_MSG_IGNORE before the key exchange finished (what the
    Terrapin attack injects); True when the server hangs up."""
    with _raw(server) as sock:
        sock.sendall(b"SSH-2.0-terrapin-probe\r\n" + _packet(_kexinit(kex)))
        sock.sendall(_packet(bytes([2]) + _string(b"injected")))  # MSG_IGNORE
        return _closed_by_server(sock, timeout=5)


def test_fail_terrapin_an_ignore_before_newkeys_kills_a_strict_connection(
    server: Server, alice: Alice
) -> None:
    strict = b"curve25519-sha256,kex-strict-c-v00@openssh.com"
    offset = server.log_size()
    assert _terrapin_probe(server, strict)
    assert "ssh_connection_dropped" in server.log_since(offset)
    # The control: without strict key exchange an early IGNORE is legal (RFC 4253 11.2),
    # so the probe's verdict comes from strict kex, not from the packets being wrong.
    assert not _terrapin_probe(server, b"curve25519-sha256")
    still_serving(alice)


def test_ok_openssh_sees_strict_key_exchange_offered(server: Server, alice: Alice) -> None:
    """OpenSSH 9.2's own view: the server's KEXINIT offers kex-strict-s-v00@openssh.com
    (the client offers the -c- form; only the server's proposal carries -s-)."""
    client = alice.client
    argv = client.ssh_argv()
    argv[argv.index("LogLevel=ERROR")] = "LogLevel=DEBUG3"
    proc = subprocess.run(
        [*argv, "-vvv", "git@127.0.0.1"],
        capture_output=True,
        env=client.env(),
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    debug = proc.stderr.decode(errors="replace")
    assert "peer server KEXINIT proposal" in debug, debug[-3000:]
    server_part = debug.split("peer server KEXINIT proposal", 1)[1].split("\n", 2)[1]
    assert "kex-strict-s-v00@openssh.com" in server_part, server_part
    assert "Hi " in debug
