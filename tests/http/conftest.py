from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gitward.services.context import Context
from tests.http.live import live_server
from tests.services.conftest import ctx  # noqa: F401  (the fixture, reused)
from tests.services.issuing_world import World, build_world, with_secret


@pytest.fixture
def world(ctx: Context) -> World:  # noqa: F811
    return build_world(with_secret(ctx))


@pytest.fixture
def client(world: World) -> Iterator[httpx.Client]:
    """An HTTP client against the real app served by uvicorn on 127.0.0.1."""
    with live_server(world.ctx) as base, httpx.Client(base_url=base) as http:
        yield http
