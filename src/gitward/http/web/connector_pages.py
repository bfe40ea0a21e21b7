"""The connector's page (site admins): its key, the hosts and their pins, the connected
repositories with their status, "test" and "sync now", and the issue-key search.

One page, /admin/connector, in sections; every form posts to a path under it. What a
form's answer must show once (a scan, test verdicts, a new repository's webhook secret)
is rendered on the POST's response; the rest answer 303 back to the page with a notice.
Who may do any of it is decided in services/connector_admin.py (site admins; anyone else
gets 404). The private key is read from the upload and never rendered, not even after a
refusal: the page shows only public lines and fingerprints.

Scanning a host is a POST (with the CSRF token) although it changes nothing: it makes this
server connect somewhere, which no other site may make a signed-in admin's browser do.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import Response

from gitward.errors import GitwardError, InvalidInput
from gitward.http.web.pages import CurrentActor, ctx_of, failed, redirect, render
from gitward.services import connector_admin
from gitward.services.actor import Actor
from gitward.services.connector_keys import PassphraseHint

router = APIRouter(prefix="/admin/connector")

TEMPLATE: Final = "admin/connector.html"
PAGE: Final = "/admin/connector"
HINT: Final = PassphraseHint("in the Passphrase field", "in the Passphrase field")

Text = Annotated[str, Form()]


def _page(request: Request, actor: Actor, **data: object) -> dict[str, Any]:
    ctx = ctx_of(request)
    pins = connector_admin.list_pins(ctx, actor)  # decides who may see the page
    hosts: dict[str, list[object]] = {}
    for pin in pins:
        hosts.setdefault(pin.host_port, []).append(pin)
    values: dict[str, Any] = {
        "status": connector_admin.key_status(ctx, actor),
        "hosts": hosts,
        "repositories": connector_admin.list_repositories(ctx, actor),
        "scan": None,
        "report": None,
        "added": None,
        "found": None,
        "issue": "",
        "host": "",
        "url": "",
        "name": "",
        "interval": "5m",
    }
    values.update(data)
    return values


@router.get("")
def connector_page(request: Request, actor: CurrentActor, issue: str = "") -> Response:
    found = None
    if issue.strip():
        try:
            found = connector_admin.search_issue(ctx_of(request), actor, issue)
        except GitwardError as exc:
            return failed(request, TEMPLATE, exc, **_page(request, actor, issue=issue))
    return render(request, TEMPLATE, **_page(request, actor, issue=issue, found=found))


# ---- the key ----------------------------------------------------------------------------


@router.post("/key/generate")
def generate_key(
    request: Request, actor: CurrentActor, key_type: Text = "ed25519", bits: Text = ""
) -> Response:
    try:
        size = _bits(bits)
        connector_admin.generate_key(ctx_of(request), actor, key_type, size)
    except GitwardError as exc:
        return failed(request, TEMPLATE, exc, **_page(request, actor))
    return redirect(PAGE, "connector-key-saved")


def _bits(text: str) -> int | None:
    value = text.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 5:
        raise InvalidInput(f"bits must be a number, not {value[:20]!r}")
    return int(value)


@router.post("/key/import")
def import_key(
    request: Request,
    actor: CurrentActor,
    key_file: Annotated[UploadFile, File()],
    passphrase: Text = "",
) -> Response:
    try:
        data = key_file.file.read(connector_admin.MAX_KEY_FILE + 1)
        if not data:
            raise InvalidInput("choose the private key file to import")
        connector_admin.import_key(
            ctx_of(request),
            actor,
            data,
            passphrase.encode("utf-8") if passphrase else None,
            filename=key_file.filename or "the key file",
            hint=HINT,
        )
    except GitwardError as exc:
        return failed(request, TEMPLATE, exc, **_page(request, actor))
    return redirect(PAGE, "connector-key-saved")


# ---- hosts ------------------------------------------------------------------------------


@router.post("/hosts/scan")
def scan_host(request: Request, actor: CurrentActor, host: Text) -> Response:
    try:
        scan = connector_admin.scan_host(ctx_of(request), actor, host)
    except GitwardError as exc:
        return failed(request, TEMPLATE, exc, **_page(request, actor, host=host))
    return render(request, TEMPLATE, **_page(request, actor, host=scan.host_port, scan=scan))


@router.post("/hosts/pin")
def pin_host(request: Request, actor: CurrentActor, host: Text, fingerprint: Text) -> Response:
    try:
        connector_admin.pin_host(ctx_of(request), actor, host, fingerprint=fingerprint)
    except GitwardError as exc:
        return failed(request, TEMPLATE, exc, **_page(request, actor, host=host))
    return redirect(PAGE, "host-pinned")


@router.post("/hosts/unpin")
def unpin_host(request: Request, actor: CurrentActor, host: Text) -> Response:
    try:
        connector_admin.unpin_host(ctx_of(request), actor, host)
    except GitwardError as exc:
        return failed(request, TEMPLATE, exc, **_page(request, actor))
    return redirect(PAGE, "host-unpinned")


# ---- repositories -----------------------------------------------------------------------


@router.post("/repositories")
def add_repository(
    request: Request, actor: CurrentActor, url: Text, name: Text = "", interval: Text = "5m"
) -> Response:
    try:
        added = connector_admin.add_repository(
            ctx_of(request), actor, url.strip(), name=name.strip(), interval=interval.strip()
        )
    except GitwardError as exc:
        data = _page(request, actor, url=url, name=name, interval=interval)
        return failed(request, TEMPLATE, exc, **data)
    # The webhook secret is shown on this response only.
    return render(request, TEMPLATE, **_page(request, actor, added=added))


@router.post("/repositories/{name}/remove")
def remove_repository(request: Request, actor: CurrentActor, name: str) -> Response:
    connector_admin.remove_repository(ctx_of(request), actor, name)
    return redirect(PAGE, "connector-repo-removed")


@router.post("/repositories/{name}/sync")
def sync_repository(request: Request, actor: CurrentActor, name: str) -> Response:
    connector_admin.request_sync(ctx_of(request), actor, name)
    return redirect(PAGE, "sync-queued")


@router.post("/repositories/{name}/test")
def test_repository(request: Request, actor: CurrentActor, name: str) -> Response:
    report = connector_admin.run_test(ctx_of(request), actor, [name])
    return render(request, TEMPLATE, **_page(request, actor, report=report))


@router.post("/test")
def test_all(request: Request, actor: CurrentActor) -> Response:
    try:
        report = connector_admin.run_test(ctx_of(request), actor)
    except GitwardError as exc:
        return failed(request, TEMPLATE, exc, **_page(request, actor))
    return render(request, TEMPLATE, **_page(request, actor, report=report))
