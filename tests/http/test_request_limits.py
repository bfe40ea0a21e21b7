"""Limits on what one request may send (issue 12, item 3), against the real server
(uvicorn on 127.0.0.1) through raw sockets, so that what is sent, and when the answer
comes, is under the test's control."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from gitward.http import server as http_server
from gitward.services import tokens
from tests.http.live import live_server
from tests.services.issuing_world import World, public_line

URL = "/api/v1/ssh/certificates"
MiB = 1024 * 1024


@pytest.fixture(params=["httptools", "h11"])
def address(
    world: World, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, int]]:
    """A live server with each HTTP parser uvicorn may run (httptools, the default; h11,
    the fallback where httptools does not build): both must keep the caps."""
    if request.param == "h11":
        monkeypatch.setattr(http_server, "_PROTOCOL", http_server._GuardedH11)
    with live_server(world.ctx) as base:
        parts = urlsplit(base)
        assert parts.hostname and parts.port
        yield parts.hostname, parts.port


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response (the server closes after it)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # the server closed with our unread bytes queued
            break
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, data = out + data[:n], data[n + 2 :]
    return out


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _send_until_answered(sock: socket.socket, total: int) -> int:
    """Send up to ``total`` body bytes in 64 KiB pieces, stopping as soon as the server
    has answered (or closed); return how many were sent."""
    sent, piece = 0, b"x" * 65536
    sock.setblocking(False)
    try:
        while sent < total:
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break  # the answer is there
            except BlockingIOError:
                pass
            try:
                sent += sock.send(piece[: total - sent])
            except BlockingIOError:
                time.sleep(0.001)
            except (BrokenPipeError, ConnectionResetError):
                break
    finally:
        sock.setblocking(True)
    return sent


def test_fail_a_20_mib_body_is_refused_413_before_it_is_read(
    address: tuple[str, int], world: World
) -> None:
    total = 20 * MiB
    with _connect(address) as sock:
        sock.sendall(
            f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {world.alice_token}\r\n"
            f"Content-Length: {total}\r\n\r\n".encode()
        )
        sent = _send_until_answered(sock, total)
        status, headers, body = _read_response(sock)
    assert status == 413
    assert json.loads(body) == {
        "error": {
            "code": "body_too_large",
            "message": "the request body must be at most 1048576 bytes",
        }
    }
    assert headers["connection"] == "close"
    assert sent < total // 2, f"the server let {sent} of {total} bytes in before answering"


def test_fail_a_chunked_body_is_counted_as_it_streams(address: tuple[str, int]) -> None:
    with _connect(address) as sock:
        sock.sendall(
            f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b"x" * 65536
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        sent = 0
        sock.setblocking(False)
        answered = False
        deadline = time.monotonic() + 30
        while sent < 20 * MiB and time.monotonic() < deadline:
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    answered = True
                    break
            except BlockingIOError:
                pass
            try:
                sock.sendall(chunk)
                sent += len(piece)
            except BlockingIOError:
                time.sleep(0.001)
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        status, _, body = _read_response(sock)
    assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"
    # What was sent includes what the two kernels buffer (several MiB on loopback).
    assert answered and sent < 10 * MiB


def test_ok_bodies_under_the_cap_are_served(address: tuple[str, int], world: World) -> None:
    base = f"http://{address[0]}:{address[1]}"
    response = httpx.post(
        base + URL,
        json={"public_key": public_line()},
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert response.status_code == 201, response.text
    # The webhook route has its own, larger cap: 2 MiB gets past the body limit.
    token = tokens.create_token(world.ctx, "alice", scopes=("connector:sync",)).token
    webhook = httpx.post(
        base + "/api/v1/connector/repositories/nope/sync",
        content=b"{" + b" " * (2 * MiB) + b"}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert webhook.status_code not in (413, 500), webhook.text


def test_fail_a_bad_content_length_is_400(address: tuple[str, int]) -> None:
    with _connect(address) as sock:
        sock.sendall(f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n".encode())
        status, _, _ = _read_response(sock)
    assert status == 400


def test_fail_headers_past_the_cap_are_431(address: tuple[str, int]) -> None:
    with _connect(address) as sock:
        sock.sendall(f"GET {URL} HTTP/1.1\r\nHost: x\r\nX-Padding: {'a' * 40_000}\r\n\r\n".encode())
        status, _, body = _read_response(sock)
    assert status == 431
    assert json.loads(body)["error"] == {
        "code": "headers_too_large",
        "message": "the request line and headers must be at most 16384 bytes",
    }


ISSUE_CAPS = [
    ("fail/too-many-options", {"options": ["no-pty"] * 17}, "options: List should have at most"),
    ("fail/option-too-long", {"options": ["force-command=" + "x" * 5000]}, "at most 4096"),
    (
        "fail/too-many-source-addresses",
        {"options": ["source-address=" + ",".join(f"10.0.0.{i}" for i in range(65))]},
        "at most 64 source-address entries",
    ),
    ("fail/two-keys-in-one", {"public_key": public_line() + "\n" + public_line()}, "one key"),
]


@pytest.mark.parametrize(("name", "body", "message"), ISSUE_CAPS, ids=[c[0] for c in ISSUE_CAPS])
def test_fail_issuing_caps(
    address: tuple[str, int], world: World, name: str, body: dict[str, object], message: str
) -> None:
    response = httpx.post(
        f"http://{address[0]}:{address[1]}{URL}",
        json={"public_key": public_line(), **body},
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]


def test_fail_headers_that_trickle_in_past_the_cap_are_431(address: tuple[str, int]) -> None:
    """Headers sent in pieces never complete: the server answers once its buffer passes
    the cap, without waiting for the end of the head."""
    with _connect(address) as sock:
        sock.sendall(f"GET {URL} HTTP/1.1\r\nHost: x\r\n".encode())
        for i in range(200):
            try:
                sock.sendall(f"X-Pad-{i}: {'a' * 200}\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.002)
        status, _, body = _read_response(sock)
    assert status == 431 and json.loads(body)["error"]["code"] == "headers_too_large"
