"""Group commit in the issuing service: concurrent requests share one transaction, each
caller gets its certificate only once it is recorded, and a failed commit hands out none."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from gitward.ca.certificate import parse_certificate_line, verify_certificate_signature
from gitward.errors import CertificateError, GitwardError
from gitward.services import inventory, issuing, revocation
from gitward.services.issuing import Issuer, IssueRequest, IssueResult
from gitward.store.db import StoreUnavailable, transaction
from gitward.store.queries import certificates
from tests.services.conftest import NOW
from tests.services.issuing_world import World, build_world, public_line, with_secret

CALLERS = 24


@pytest.fixture
def world(ctx: Any) -> World:
    return build_world(with_secret(ctx))


def _together(issuer: Issuer, token: str, keys: list[str]) -> list[IssueResult | BaseException]:
    """Every key issued from its own thread, all started at once."""
    start = threading.Barrier(len(keys))
    out: list[IssueResult | BaseException] = [RuntimeError("not run")] * len(keys)

    def one(i: int) -> None:
        start.wait()
        try:
            out[i] = issuer.issue(token, IssueRequest(keys[i], organization="acme"))
        except BaseException as exc:
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _rows(world: World) -> list[tuple[int, str | None]]:
    with world.ctx.engine.connect() as conn:
        return [
            (int(r[0]), r[1])
            for r in conn.execute(text("SELECT id, certificate FROM issued_certificates"))
        ]


def _issue_events(world: World) -> int:
    with world.ctx.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM audit_events WHERE action = 'cert.issue'")
            ).scalar_one()
        )


def test_ok_concurrent_requests_share_commits_and_all_are_recorded(world: World) -> None:
    # A long window and a batch the size of the crowd: the callers meet in few commits.
    issuer = Issuer(world.ctx, max_batch=CALLERS, window=2.0)
    keys = [public_line() for _ in range(CALLERS)]
    results = _together(issuer, world.alice_token, keys)

    assert all(isinstance(r, IssueResult) for r in results), results
    issued = [r for r in results if isinstance(r, IssueResult)]
    serials = {r.issued.serial for r in issued}
    assert len(serials) == CALLERS
    assert issuer._group.batches < CALLERS  # some requests shared a transaction
    for r, key in zip(issued, keys, strict=True):
        cert = parse_certificate_line(r.issued.certificate)
        assert verify_certificate_signature(cert)
        assert cert.serial == r.issued.serial and cert.key_id == f"alice-{cert.serial}"
        assert r.issued.public_key_fingerprint != "" and key.startswith("ssh-ed25519")
    # Recorded: the inventory, the caller's own listing and the audit trail all see them.
    assert {v.serial for v in inventory.list_certificates(world.ctx)} == serials
    assert {v.serial for v in issuer.list_for(world.alice_token)} == serials
    assert {v.certificate for v in inventory.list_certificates(world.ctx)} == {
        r.issued.certificate for r in issued
    }
    assert _issue_events(world) == CALLERS
    # Revocation sees them as any other certificate.
    victim = min(serials)
    revocation.revoke_serial(world.ctx, victim, world.ca.fingerprint)
    with transaction(world.ctx.engine) as session:
        revoked, total = certificates.inventory(session, now=NOW, status="revoked")
    assert total == 1 and revoked[0][0].serial == victim


def test_fail_commit_failure_answers_every_caller_and_hands_out_nothing(world: World) -> None:
    issuer = Issuer(world.ctx, max_batch=8, window=2.0)
    engine = world.ctx.engine

    def fail(_conn: Any) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(engine, "commit", fail)
    try:
        results = _together(issuer, world.alice_token, [public_line() for _ in range(8)])
    finally:
        event.remove(engine, "commit", fail)

    assert all(isinstance(r, StoreUnavailable) for r in results), results
    assert all("not reachable" in r.message for r in results if isinstance(r, GitwardError))
    assert _rows(world) == []
    assert _issue_events(world) == 0
    # The database back: issuing works again, with the same issuer.
    again = issuer.issue(world.alice_token, IssueRequest(public_line(), organization="acme"))
    assert [r[0] for r in _rows(world)] == [again.issued.serial]


def test_ok_one_failing_request_does_not_fail_the_others_in_its_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = public_line()
    real: Callable[..., Any] = issuing.sign_certificate

    def sign(request: Any, signer: Any) -> Any:
        if request.public_key == parse_certificate_key(bad):
            raise CertificateError("the signer failed", cause="test")
        return real(request, signer)

    monkeypatch.setattr(issuing, "sign_certificate", sign)
    issuer = Issuer(world.ctx, max_batch=6, window=2.0)
    keys = [public_line() for _ in range(5)] + [bad]
    results = _together(issuer, world.alice_token, keys)

    assert isinstance(results[-1], CertificateError)
    good = [r for r in results[:-1] if isinstance(r, IssueResult)]
    assert len(good) == 5
    rows = _rows(world)
    # Only the recorded five: no row is left without its certificate.
    assert sorted(r[0] for r in rows) == sorted(r.issued.serial for r in good)
    assert all(cert is not None for _, cert in rows)
    assert _issue_events(world) == 5


def parse_certificate_key(line: str) -> bytes:
    import base64

    return base64.b64decode(line.split()[1])


@pytest.mark.parametrize("how", ["removed", "revoked"])
def test_ok_a_cached_ca_key_stops_signing_at_once(world: World, how: str) -> None:
    from gitward.services import authorities
    from gitward.services.issuing import NoManagedCA

    issuer = Issuer(world.ctx)  # one process: its decrypted CA key is cached after this
    issuer.issue(world.alice_token, IssueRequest(public_line(), organization="acme"))
    if how == "removed":
        authorities.remove_ca(world.ctx, world.ca.fingerprint)
    else:
        revocation.revoke_key(world.ctx, world.ca.public_key.encode())
    with pytest.raises(NoManagedCA):
        issuer.issue(world.alice_token, IssueRequest(public_line(), organization="acme"))
    assert _issue_events(world) == 1


def test_ok_a_revoked_token_is_refused_on_its_next_request(world: World) -> None:
    from gitward.services import tokens

    made = tokens.create_token(world.ctx, "alice")
    issuer = Issuer(world.ctx)
    issuer.issue(made.token, IssueRequest(public_line(), organization="acme"))
    tokens.revoke_token(world.ctx, made.view.id)
    with pytest.raises(tokens.Unauthenticated):
        issuer.issue(made.token, IssueRequest(public_line(), organization="acme"))


def test_ok_recorded_hook_runs_once_per_certificate_after_commit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, bool]] = []

    def recorded(self: Issuer, result: IssueResult) -> None:
        # The hook (metrics) sees each certificate once, already committed.
        seen.append((result.issued.serial, result.issued.serial in [r[0] for r in _rows(world)]))
        raise RuntimeError("a broken metrics hook")  # must not cost the caller its certificate

    monkeypatch.setattr(Issuer, "_recorded", recorded)
    issuer = Issuer(world.ctx, max_batch=4, window=2.0)
    results = _together(issuer, world.alice_token, [public_line() for _ in range(4)])
    assert all(isinstance(r, IssueResult) for r in results), results
    serials = sorted(r.issued.serial for r in results if isinstance(r, IssueResult))
    assert sorted(s for s, _ in seen) == serials and all(committed for _, committed in seen)
