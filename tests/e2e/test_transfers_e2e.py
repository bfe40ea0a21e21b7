"""The transfer matrix (issue 9): real git and OpenSSH against a real `gitward serve`,
push and clone/fetch, from empty to 64 MB, one large blob (receive-pack's unpack-objects
path) and hundreds of objects (index-pack), onto existing history, with both ciphers the
OpenSSH client offers first, and through a throttling, pausing relay. Every case is
checked byte for byte (see transfers.py); the autouse log check fails any case during
which the server printed a traceback.

The long soak (hundreds of rounds, mixed sizes, several at once) is `bench/soak.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gitward.services import accounts, repositories
from gitward.services.context import Context
from tests.e2e.harness import Client, Server
from tests.e2e.transfers import (
    BLOB_8MB,
    BLOB_64MB,
    CIPHERS,
    EMPTY,
    FILES_400,
    MB,
    SMALL,
    Shape,
    assert_clone_matches,
    assert_server_holds,
    commit_shape,
    new_work_tree,
)

MakeClient = Callable[..., Client]
RELAY = Path(__file__).with_name("slow_relay.py")
OWNER = "mover"


@pytest.fixture(scope="module")
def mover(admin: Context) -> str:
    accounts.create_user(admin, OWNER)
    return OWNER


def _client(make_client: MakeClient, admin: Context, *ssh_options: str) -> Client:
    client = make_client()
    accounts.add_key(admin, OWNER, Path(f"{client.key}.pub").read_bytes())
    client.extra_ssh = ssh_options
    return client


def _cipher(name: str) -> tuple[str, ...]:
    return ("-o", f"Ciphers={name}")


def _relay(port: int) -> tuple[str, ...]:
    # 4 MB/s each way, and a 0.3 s stall after every megabyte.
    command = f"{sys.executable} {RELAY} 127.0.0.1 {port} --rate 4000000 --pause-every 1000000"
    return ("-o", f"ProxyCommand={command}")


def _push_then_clone(
    server: Server, admin: Context, pusher: Client, cloner: Client, repo: str, shape: Shape
) -> None:
    repositories.create_repo(admin, repo)
    work = new_work_tree(pusher, f"work-{repo.replace('/', '_')}")
    assert pusher.git("remote", "add", "origin", pusher.url(repo), cwd=work).code == 0
    sha = commit_shape(pusher, work, shape, seed=len(repo))
    pushed = pusher.git("push", "-q", "origin", "main", cwd=work)
    assert pushed.code == 0, pushed.err
    assert_server_holds(server, repo, sha)
    cloned = cloner.clone(repo)
    assert cloned.code == 0, cloned.err
    assert_clone_matches(server, repo, cloner.home / repo.replace("/", "_"))


@pytest.mark.parametrize("cipher", CIPHERS, ids=["chacha20", "aes128gcm"])
@pytest.mark.parametrize(
    "shape", [EMPTY, SMALL, BLOB_8MB, BLOB_64MB, FILES_400], ids=lambda s: s.name
)
def test_ok_push_then_clone(
    server: Server,
    admin: Context,
    make_client: MakeClient,
    mover: str,
    shape: Shape,
    cipher: str,
) -> None:
    pusher = _client(make_client, admin, *_cipher(cipher))
    cloner = _client(make_client, admin, *_cipher(cipher))
    repo = f"{mover}/{shape.name}-{cipher.split('-')[0].split('@')[0]}"
    _push_then_clone(server, admin, pusher, cloner, repo, shape)


@pytest.mark.parametrize("cipher", CIPHERS, ids=["chacha20", "aes128gcm"])
def test_ok_clone_of_an_empty_repository(
    server: Server, admin: Context, make_client: MakeClient, mover: str, cipher: str
) -> None:
    repo = f"{mover}/nothing-yet-{cipher[:6]}"
    repositories.create_repo(admin, repo)
    cloner = _client(make_client, admin, *_cipher(cipher))
    cloned = cloner.clone(repo)
    assert cloned.code == 0, cloned.err
    assert "empty repository" in cloned.err
    assert_clone_matches(server, repo, cloner.home / repo.replace("/", "_"))


@pytest.mark.parametrize("cipher", CIPHERS, ids=["chacha20", "aes128gcm"])
def test_ok_pushes_onto_existing_history_and_fetches(
    server: Server, admin: Context, make_client: MakeClient, mover: str, cipher: str
) -> None:
    """A history grows over several pushes (small, then hundreds of objects, then a large
    blob); a clone made at the start fetches each step and stays equal to the server."""
    repo = f"{mover}/growing-{cipher[:6]}"
    pusher = _client(make_client, admin, *_cipher(cipher))
    fetcher = _client(make_client, admin, *_cipher(cipher))
    _push_then_clone(server, admin, pusher, fetcher, repo, SMALL)
    work = pusher.home / f"work-{repo.replace('/', '_')}"
    clone = fetcher.home / repo.replace("/", "_")
    steps = [Shape("more-files", 250, 8 * 1024), Shape("big-blob", 1, 12 * MB), FILES_400]
    for seed, shape in enumerate(steps, start=1):
        sha = commit_shape(pusher, work, shape, seed)
        pushed = pusher.git("push", "-q", "origin", "main", cwd=work)
        assert pushed.code == 0, pushed.err
        assert_server_holds(server, repo, sha)
        fetched = fetcher.git("fetch", "-q", "origin", cwd=clone)
        assert fetched.code == 0, fetched.err
        assert_clone_matches(server, repo, clone)


@pytest.mark.parametrize("cipher", CIPHERS, ids=["chacha20", "aes128gcm"])
def test_ok_transfers_through_a_slow_stalling_network(
    server: Server, admin: Context, make_client: MakeClient, mover: str, cipher: str
) -> None:
    """Through a relay at 4 MB/s that stalls after every megabyte, both SSH windows fill
    and drain many times during a 12 MB push and its clone."""
    slow = (*_cipher(cipher), *_relay(server.port))
    pusher = _client(make_client, admin, *slow)
    cloner = _client(make_client, admin, *slow)
    repo = f"{mover}/slow-{cipher[:6]}"
    _push_then_clone(server, admin, pusher, cloner, repo, Shape("blob-and-files", 150, 80 * 1024))
