from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitward.services.context import Context, open_context
from gitward.settings import Settings
from tests.e2e.harness import (
    HOSTNAME,
    STARTED,
    Client,
    Server,
    keygen,
    log_problems,
    needs_openssh,
    server_env,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # (a module-level pytestmark in a conftest applies to nothing: mark each item here)
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(needs_openssh)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def clean_server_log() -> Iterator[None]:
    """Fail the test during which any server printed a traceback: the client may have
    succeeded while the server hit a bug (the push corruption hid behind one)."""
    before = {id(s): s.log_size() for s in STARTED}
    yield
    for srv in STARTED:
        text = srv.log_since(before.get(id(srv), 0))
        if problems := log_problems(text):
            pytest.fail(
                f"the server's log ({srv.log_path}) holds {len(problems)} traceback(s) "
                f"during this test; the first:\n{problems[0]}",
                pytrace=False,
            )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("gitward")
    srv = Server(base / "data", server_env()).start()
    try:
        yield srv
    finally:
        offset = srv.log_size()
        srv.stop()
    if problems := log_problems(srv.log_since(offset)):
        pytest.fail(f"the server printed a traceback while stopping:\n{problems[0]}")


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[Context]:
    """The administrator's side: the services, on the server's own database."""
    ctx = open_context(Settings(data_dir=server.data_dir, hostname=HOSTNAME, ssh_port=server.port))
    try:
        yield ctx
    finally:
        ctx.engine.dispose()


@pytest.fixture
def make_client(server: Server, tmp_path: Path) -> object:
    counter = iter(range(1000))

    def make(key_type: str = "ed25519", *, ssh_user: str = "git") -> Client:
        home = tmp_path / f"client{next(counter)}"
        home.mkdir()
        return Client(server, home, keygen(home / "id_key", key_type), ssh_user=ssh_user)

    return make
