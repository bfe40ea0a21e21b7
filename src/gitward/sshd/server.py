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
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import asyncssh
import structlog
from asyncssh.constants import MSG_IGNORE
from asyncssh.packet import SSHPacketLogger, String
from asyncssh.public_key import decode_ssh_public_key

from gitward.access.identity import signature_algorithm_allowed
from gitward.ca.certificate import is_certificate_blob, parse_certificate
from gitward.errors import GitwardError
from gitward.keys.wire import WireReader
from gitward.services import ssh_access
from gitward.services.context import Context
from gitward.services.ssh_access import AuthResult
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


class GitwardConnection(asyncssh.SSHServerConnection):
    """One client connection; ``identity`` is set once a signed attempt is accepted."""

    def __init__(self, state: ServerState, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gitward_state = state
        self.identity: AuthResult | None = None
        self.ssh_username = ""
        self.peer_address = ""
        self._failures = 0
        self._refused = False
        self._counted = False

    # -- before authentication -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.peer_address = str(peer[0]) if peer else ""
        state, now = self.gitward_state, time.monotonic()
        if (
            state.penalties.refuses(self.peer_address, now)
            or not state.source_startups.admits(self.peer_address)
            or not state.startup_limit.admits(state.unauthenticated, random.random())
        ):
            self._refused = True
            log.warning(
                "connection_refused", peer=self.peer_address, unauthenticated=state.unauthenticated
            )
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            else:
                transport.close()
            return
        state.unauthenticated += 1
        state.source_startups.opened(self.peer_address)
        state.connections.add(self)
        self._counted = True
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None = None) -> None:
        if self._refused:
            return
        state = self.gitward_state
        state.connections.discard(self)
        if self._counted:  # never authenticated
            self._uncount()
            state.penalties.penalise(self.peer_address, time.monotonic(), tried=self._failures > 0)
        super().connection_lost(exc)

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
                ssh_user=username[:64],
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
                log.info(
                    "ssh_auth",
                    outcome="denied",
                    peer=self.peer_address,
                    ssh_user=username[:64],
                    reason=problem,
                )
                return self._fail()
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
