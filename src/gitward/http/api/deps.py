"""What the admin API's endpoints share: the bearer-token actor, paging with GitHub's
``Link`` header, the documented error responses."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from gitward.http.api.certificates import ErrorBody, bearer
from gitward.services.actor import Actor, actor_for_token
from gitward.services.context import Context
from gitward.services.paging import MAX_PER_PAGE, Page, PageRequest

T = TypeVar("T")

# A row id in a path: the database's ids are signed 64-bit, and a larger number must be a
# 422 here, not an OverflowError in the driver (found by the poison test, issue 12).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def ctx_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def api_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """Only a bearer token: the API never reads the browser's session cookie, so a page on
    another site cannot make a signed-in browser call it (no CSRF surface)."""
    token = credentials.credentials if credentials is not None else None
    peer = request.client.host if request.client else None
    return actor_for_token(ctx_of(request), token, peer=peer)


ApiActor = Annotated[Actor, Depends(api_actor)]


def paging(
    page: Annotated[int, Query(ge=1, description="Page number, from 1")] = 1,
    per_page: Annotated[
        int, Query(ge=1, le=MAX_PER_PAGE, description=f"Results per page (max {MAX_PER_PAGE})")
    ] = 30,
) -> PageRequest:
    return PageRequest(page, per_page)


Paging = Annotated[PageRequest, Depends(paging)]


def link_header(request: Request, response: Response, page: Page[Any]) -> None:
    """GitHub's pagination: ``Link: <...page=2>; rel="next", <...>; rel="last"``, and the
    total in ``X-Total-Count``."""
    links = []

    def url(number: int) -> str:
        return str(request.url.include_query_params(page=number, per_page=page.per_page))

    if page.has_next:
        links.append(f'<{url(page.page + 1)}>; rel="next"')
        links.append(f'<{url(page.last_page)}>; rel="last"')
    if page.has_previous:
        links.append(f'<{url(1)}>; rel="first"')
        links.append(f'<{url(page.page - 1)}>; rel="prev"')
    if links:
        response.headers["Link"] = ", ".join(links)
    response.headers["X-Total-Count"] = str(page.total)


def paged(items: list[T], paging: PageRequest) -> Page[T]:
    """A page of a list already in memory (small listings: users, organizations)."""
    start = paging.offset
    return Page(items[start : start + paging.per_page], paging.page, paging.per_page, len(items))


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    texts = {
        401: "No token, or an unknown, revoked or expired one",
        403: "The token lacks the scope this needs, or the account is suspended",
        404: "Not found, or not visible to you",
        409: "Already exists or in use",
        422: "Invalid input",
    }
    return {s: {"model": ErrorBody, "description": texts[s]} for s in statuses}


STANDARD = errors(401, 403, 404, 422)
