"""The SSH transport: asyncssh connections whose authentication Gitward decides itself.

asyncssh's callbacks see a key without knowing whether the client merely offered it or
signed with it, accept SHA-1 ``ssh-rsa`` signatures, refuse certificates whose principals
omit the SSH username, and carry certificate options from one attempt to the next. So
``GitwardConnection`` overrides the one method every public-key attempt goes through,
``validate_public_key``, and:

1. counts failures (at most ``max_auth_tries`` per connection);
2. for a signed attempt, checks the signature algorithm (no SHA-1) and verifies the
   signature over the session id with the key *as sent in this attempt*;
3. asks ``services.ssh_access.authenticate`` (in a worker thread: it reads the database);
4. binds the identity only when a verified, signed attempt is accepted; nothing from an
   earlier attempt is kept.

Before authentication, connections are capped (``StartupLimit``) and addresses that keep
failing are refused for a while (``PenaltyBox``); neither touches authenticated users.

Behind a load balancer (``sshd/proxy.py``), ``proxied_client`` is the address its PROXY
header named, and stands for the TCP peer everywhere, asyncssh's own idea of the peer
included. A connection whose first bytes are a PROXY header nobody trusted is dropped.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import asyncssh
import asyncssh.auth
import structlog
from asyncssh.auth import MSG_USERAUTH_PK_OK
from asyncssh.constants import MSG_IGNORE
from asyncssh.packet import SSHPacket, SSHPacketLogger, String
from asyncssh.public_key import decode_ssh_public_key

from gitward import metrics
from gitward.access.identity import public_key_algorithm_fits, signature_algorithm_allowed
from gitward.ca.certificate import is_certificate_blob, parse_certificate
from gitward.errors import GitwardError
from gitward.keys.wire import WireReader
from gitward.proxy_protocol import looks_like_proxy
from gitward.services import ssh_access
from gitward.services.context import Context
from gitward.services.ssh_access import AuthResult
from gitward.sshd.drain import Operations
from gitward.sshd.limits import PenaltyBox, SourceStartups, StartupLimit

log = structlog.get_logger("gitward.sshd")

# What asyncssh puts before every packet it sends once encryption is on.
_EMPTY_IGNORE = (String(b""),)


@dataclass
class ServerState:
    """What all connections of one listener share."""

    ctx: Context
    startup_limit: StartupLimit
    source_startups: SourceStartups
    penalties: PenaltyBox
    max_auth_tries: int
    unauthenticated: int = 0
    connections: set[GitwardConnection] = field(default_factory=set)
    # The web UI's address for `ssh git@host login` links: set by `serve` once HTTP listens
    # (its port may be chosen at start); None falls back to the settings.
    web_url: str | None = None
    operations: Operations = field(default_factory=Operations)


class GitwardConnection(asyncssh.SSHServerConnection):
    """One client connection; ``identity`` is set once a signed attempt is accepted."""

    def __init__(
        self,
        state: ServerState,
        *args: Any,
        proxied_client: tuple[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.gitward_state = state
        self.identity: AuthResult | None = None
        self.ssh_username = ""
        self.peer_address = ""
        self.proxied_client = proxied_client  # from a trusted PROXY header
        self._failures = 0
        self._refused = False
        self._counted = False
        self._first_bytes = True

    # -- before authentication -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        if self.proxied_client is not None:
            self.peer_address = self.proxied_client[0]
            self.set_extra_info(peername=self.proxied_client, proxy_peername=peer)
        else:
            self.peer_address = str(peer[0]) if peer else ""
        refused = self._refusal()
        state = self.gitward_state
        if refused is not None:
            self._refused = True
            metrics.connection_refused(refused)
            log.warning(
                "connection_refused",
                peer=self.peer_address,
                reason=refused,
                unauthenticated=state.unauthenticated,
            )
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            else:
                transport.close()
            return
        metrics.connection_accepted()
        state.unauthenticated += 1
        state.source_startups.opened(self.peer_address)
        state.connections.add(self)
        self._counted = True
        super().connection_made(transport)

    def _connection_made(self) -> None:
        if self.proxied_client is not None:  # what asyncssh logs and reports as the peer
            self._peer_addr, self._peer_port = self.proxied_client
        super()._connection_made()

    def data_received(self, data: bytes, datatype: Any = None) -> None:
        if self._first_bytes:
            self._first_bytes = False
            if looks_like_proxy(data):
                # A load balancer we do not trust, or a client posing as one.
                log.warning("proxy_header_untrusted", peer=self.peer_address)
                metrics.connection_refused(metrics.REFUSED_PROXY_HEADER)
                self.abort()
                return
        super().data_received(data, datatype)

    def _refusal(self) -> str | None:
        """Why this connection is dropped before the handshake (a metrics reason), if it is."""
        state, peer = self.gitward_state, self.peer_address
        if state.penalties.refuses(peer, time.monotonic()):
            return metrics.REFUSED_PENALTY
        if not state.source_startups.admits(peer):
            return metrics.REFUSED_PER_SOURCE
        if not state.startup_limit.admits(state.unauthenticated, random.random()):
            return metrics.REFUSED_MAX_STARTUPS
        return None

    def connection_lost(self, exc: Exception | None = None) -> None:
        if self._refused:
            return
        state = self.gitward_state
        state.connections.discard(self)
        if self._counted:  # never authenticated
            self._uncount()
            state.penalties.penalise(self.peer_address, time.monotonic(), tried=self._failures > 0)
        super().connection_lost(exc)

    def _cleanup(self, exc: Exception | None) -> None:
        # A connection that never authenticated and ended on an error (garbage after the
        # banner, a packet too large, a strict-kex violation): its reason, one line.
        if self.identity is None and exc is not None and not self._refused:
            log.info(
                "ssh_connection_dropped",
                peer=self.peer_address,
                reason=f"{type(exc).__name__}: {str(exc)[:200]}",
            )
        super()._cleanup(exc)

    def _authenticated(self) -> None:
        if self._counted:
            self._uncount()

    def _uncount(self) -> None:
        self.gitward_state.unauthenticated -= 1
        self.gitward_state.source_startups.closed(self.peer_address)
        self._counted = False

    # -- sending -------------------------------------------------------------------

    def send_packet(
        self, pkttype: int, *args: bytes, handler: SSHPacketLogger | None = None
    ) -> None:
        # asyncssh sends an empty SSH_MSG_IGNORE before *every* packet once encryption is
        # on: RFC 4251 9.3.1's countermeasure for CBC, whose next IV the attacker knows.
        # With the CTR, GCM and ChaCha20 ciphers it negotiates by default it protects
        # nothing, and it doubles the packets (each encrypted and written on its own) of a
        # clone. Kept for CBC, should it ever be enabled.
        if (
            pkttype == MSG_IGNORE
            and args == _EMPTY_IGNORE
            and not self._enc_alg_sc.endswith(b"-cbc")
        ):
            return
        super().send_packet(pkttype, *args, handler=handler)

    # -- public-key authentication ---------------------------------------------------

    async def validate_public_key(
        self, username: str, key_data: bytes, msg: bytes, signature: bytes
    ) -> bool:
        # The safety net: whatever goes wrong while deciding is a denial (fail closed),
        # logged with its traceback; the connection and the server carry on.
        try:
            return await self._validate_public_key(username, key_data, msg, signature)
        except Exception as exc:
            log.error(
                "ssh_auth_crashed",
                outcome="denied",
                peer=self.peer_address,
                ssh_username=username[:64],
                error=type(exc).__name__,
                exc_info=exc,
            )
            return self._fail()

    async def _validate_public_key(
        self, username: str, key_data: bytes, msg: bytes, signature: bytes
    ) -> bool:
        state = self.gitward_state
        signed = bool(msg)
        if signed:
            problem = self._signature_problem(key_data, msg, signature)
            if problem is not None:
                return self.deny_before_lookup(username, problem, signed=True)
        result = await asyncio.to_thread(
            ssh_access.authenticate,
            state.ctx,
            ssh_username=username,
            key_blob=key_data,
            peer=self.peer_address,
            signed=signed,
        )
        if not result.accepted:
            return self._fail()
        if signed:
            # Bound here and only here: this key's signature was just verified.
            self.identity, self.ssh_username = result, username
            self._authenticated()
        return True

    def request_problem(self, algorithm: bytes, key_data: bytes, signature: bytes) -> str | None:
        """What is wrong with a userauth request's framing, before any lookup: a key blob
        that does not say its type, an algorithm name that does not fit the key, a
        signature made with another algorithm than the request names."""
        try:
            name = algorithm.decode("ascii")
            key_type = WireReader(key_data, what="public key").text()
        except (UnicodeDecodeError, GitwardError):
            return "key.unparsable (no key type)"
        if not public_key_algorithm_fits(name, key_type):
            return f"key.algorithm_mismatch ({name[:64]!r} for a {key_type[:64]!r} key)"
        if signature:
            try:
                signed_with = WireReader(signature, what="signature").text()
            except GitwardError:
                return "key.bad_signature (unreadable)"
            if signed_with != _plain_algorithm(name):
                return (
                    f"key.algorithm_mismatch (request {name[:64]!r}, signed {signed_with[:64]!r})"
                )
        return None

    def deny_before_lookup(self, username: str, problem: str, *, signed: bool) -> bool:
        """A request refused before any lookup (so without an audit row): logged with the
        fields of services/ssh_access.py's ssh.auth events and counted like them.
        ``problem`` is a reason code, then its detail in parentheses."""
        reason, _, detail = problem.partition(" ")
        log.info(
            "ssh_auth",
            action="ssh.auth",
            target="",
            actor="sshd",
            outcome="denied",
            peer=self.peer_address,
            ssh_username=username[:64],
            signed=signed,
            reason=reason,
            detail=detail.strip("()"),
        )
        metrics.auth_decision("denied", reason)
        return self._fail()

    def _fail(self) -> bool:
        self._failures += 1
        if self._failures >= self.gitward_state.max_auth_tries:
            self.disconnect(
                asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, "Too many authentication failures"
            )
        return False

    def _signature_problem(self, key_data: bytes, msg: bytes, signature: bytes) -> str | None:
        try:
            algorithm = WireReader(signature, what="signature").text()
            if not signature_algorithm_allowed(algorithm):
                return f"key.sha1_signature ({algorithm})"
            blob = key_data
            if is_certificate_blob(key_data):
                blob = parse_certificate(key_data).public_key
            key = decode_ssh_public_key(blob)
            if not key.verify(String(self._session_id) + msg, signature):
                return "key.bad_signature"
        except (GitwardError, asyncssh.KeyImportError, ValueError) as exc:
            return f"key.bad_signature ({type(exc).__name__})"
        return None


_CERT_SUFFIX = "-cert-v01@openssh.com"


def _plain_algorithm(algorithm: str) -> str:
    """The signature algorithm of a request's public-key algorithm (a certificate's
    requests are signed by its key: rsa-sha2-256-cert-v01@openssh.com -> rsa-sha2-256)."""
    if not algorithm.endswith(_CERT_SUFFIX):
        return algorithm
    plain = algorithm.removesuffix(_CERT_SUFFIX)
    return plain + "@openssh.com" if plain.startswith("sk-") else plain


class _PublicKeyAuth(asyncssh.auth._ServerPublicKeyAuth):
    """asyncssh's public-key method, which hands ``validate_public_key`` neither the
    algorithm name nor a way to refuse a malformed request: the request's framing is
    checked here first (``GitwardConnection.request_problem``), the rest is asyncssh's."""

    async def _start(self, packet: SSHPacket) -> None:
        sig_present = packet.get_boolean()
        algorithm = packet.get_string()
        key_data = packet.get_string()
        msg, signature = b"", b""
        if sig_present:
            msg = packet.get_consumed_payload()
            signature = packet.get_string()
        packet.check_end()
        conn = self._conn
        if isinstance(conn, GitwardConnection):
            problem = conn.request_problem(algorithm, key_data, signature)
            if problem is not None:
                conn.deny_before_lookup(self._username, problem, signed=sig_present)
                self.send_failure()
                return
        if await conn.validate_public_key(self._username, key_data, msg, signature):
            if sig_present:
                await self.send_success()
            else:
                self.send_packet(MSG_USERAUTH_PK_OK, String(algorithm), String(key_data))
        else:
            self.send_failure()


# Every Gitward listener uses it; asyncssh looks the method's server class up here.
asyncssh.auth._server_auth_handlers[b"publickey"] = _PublicKeyAuth


class GitwardServer(asyncssh.SSHServer):
    """Per-connection callbacks: public keys only, nothing else."""

    def begin_auth(self, username: str) -> bool:
        return True  # every username must authenticate; which ones work is policy

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False
