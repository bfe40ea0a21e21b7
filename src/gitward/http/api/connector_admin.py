"""``/api/v1/connector``: the connector's administration, everything its web page does
(site admins: a token with the ``site_admin`` scope of a site admin; anyone else gets 404).

* the key: ``GET /connector/key`` (the public part, never the private one),
  ``POST /connector/key/generate``, ``POST /connector/key/import``;
* hosts: ``GET /connector/hosts`` (pins, paged), ``POST /connector/hosts/scan``,
  ``POST /connector/hosts/pins``, ``DELETE /connector/hosts/{host}``;
* repositories: ``POST /connector/repositories``, ``DELETE /connector/repositories/{name}``,
  ``POST /connector/repositories/{name}/test``, ``POST /connector/test`` (every one);
  the list and the sync trigger are in http/api/connector.py.

The refusals are the CLI's words (the passphrase's fix names the JSON field); errors have
the API's shape. Handlers parse, call services/connector_admin.py, render.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from gitward.errors import InvalidInput
from gitward.http.api.certificates import ErrorBody
from gitward.http.api.connector import RepositoryOut, Timestamp
from gitward.http.api.deps import ApiActor, Paging, ctx_of, errors, link_header, paged
from gitward.services import connector_admin
from gitward.services.connector_keys import PassphraseHint

router = APIRouter(prefix="/connector", tags=["Repository connector"])

HINT: Final = PassphraseHint('in the "passphrase" field', 'in the "passphrase" field')
ADMIN = errors(401, 403, 404, 422)
ADMIN_409 = errors(401, 403, 404, 409, 422)
ADMIN_SCAN = {
    **ADMIN,
    502: {"model": ErrorBody, "description": "The host did not answer (refused, timed out)"},
}


class ConnectorKeyOut(BaseModel):
    state: str = Field(description="active, or pending (a replacement not yet accepted everywhere)")
    public_key: str = Field(description="The line to add on a Git host")
    key_type: str
    bits: int
    fingerprint: str
    created_at: Timestamp
    certificate_valid_after: Timestamp | None
    certificate_valid_before: Timestamp | None
    certified_by: str | None
    certificate_organization: str | None
    certificate_renewal_error: str | None


class KeyStatusOut(BaseModel):
    active: ConnectorKeyOut | None
    pending: ConnectorKeyOut | None
    old_key_only: list[str] = Field(
        description="Repositories that still accept only the old key (while one is pending)"
    )


class GenerateIn(BaseModel):
    type: Literal["ed25519", "rsa", "ecdsa"] = "ed25519"
    bits: int | None = Field(default=None, ge=256, le=16384, description="RSA or ECDSA")


class ImportIn(BaseModel):
    private_key: str | None = Field(
        default=None,
        max_length=connector_admin.MAX_KEY_FILE,
        description="The private key file's text: OpenSSH, PEM (PKCS#1, PKCS#8, SEC1), "
        "PuTTY .ppk v2 or v3, encrypted or not",
    )
    private_key_base64: str | None = Field(
        default=None,
        max_length=connector_admin.MAX_KEY_FILE * 2,
        description="The file's bytes in base64 (for a binary one: DER)",
    )
    passphrase: str | None = Field(default=None, max_length=1024)
    filename: str = Field(
        default="the key file", max_length=200, description="Names the file in refusals"
    )


class HostKeyOut(BaseModel):
    host_port: str
    key_type: str
    fingerprint: str
    public_key: str
    pinned_at: Timestamp | None


class ScanIn(BaseModel):
    host: str = Field(max_length=300, examples=["git.example.com:2222"])


class ScannedKeyOut(BaseModel):
    key_type: str
    fingerprint: str
    public_key: str
    pinned: bool


class HostScanOut(BaseModel):
    host_port: str
    status: Literal["pinned", "unknown", "changed"] = Field(
        description="pinned: a presented key is pinned; unknown: nothing is pinned; "
        "changed: pins exist and none is presented (syncs are refused)"
    )
    keys: list[ScannedKeyOut] = Field(description="What the host presents, strongest first")
    pinned: list[str] = Field(description="Fingerprints pinned for the host")
    fix: str | None = Field(description="What to do, as `gitward connector test` says it")
    pin_command: str | None


class PinIn(BaseModel):
    host: str = Field(max_length=300, examples=["git.example.com:2222"])
    fingerprint: str | None = Field(
        default=None,
        max_length=100,
        description="SHA256:... of a key the host presents now (it is scanned to match)",
    )
    key: str | None = Field(default=None, max_length=16384, description="'TYPE BASE64'")
    known_hosts: str | None = Field(
        default=None, max_length=1024 * 1024, description="A known_hosts file's text"
    )


class RepositoryIn(BaseModel):
    url: str = Field(
        max_length=2000, examples=["git@git.example.com:acme/app.git", "ssh://git@h:2222/a.git"]
    )
    name: str | None = Field(default=None, max_length=100)
    interval: str = Field(default="5m", max_length=20, description="1m to 7d")


class AddedRepositoryOut(RepositoryOut):
    webhook_secret: str = Field(description="Shown once: signs X-Hub-Signature-256")
    host_pinned: bool


class VerdictOut(BaseModel):
    repository: str
    ok: bool
    ref_count: int | None
    default_branch: str | None
    failure: str | None = Field(description="The failure class, e.g. auth_refused")
    detail: str | None
    fix: str | None = Field(description="The one line to act on")
    host_key_presented: list[str]
    host_key_pinned: list[str]
    new_key_accepted: bool | None
    line: str = Field(description="What `gitward connector test` prints")


class TestReportOut(BaseModel):
    ok: bool
    new_key_promoted: bool
    repositories: list[VerdictOut]


# ---- the key ------------------------------------------------------------------------------


@router.get("/key", response_model=KeyStatusOut, responses=ADMIN, summary="The connector's key")
def key(request: Request, actor: ApiActor) -> dict[str, Any]:
    """The public line, type, bits, fingerprint and certificate of the active key (and of
    a pending replacement); never the private key."""
    return connector_admin.key_status(ctx_of(request), actor).to_json()


@router.post(
    "/key/generate",
    status_code=201,
    response_model=KeyStatusOut,
    responses=ADMIN_409,
    summary="Generate the connector's key (or its replacement)",
)
def generate(request: Request, actor: ApiActor, body: GenerateIn) -> dict[str, Any]:
    return connector_admin.generate_key(ctx_of(request), actor, body.type, body.bits).to_json()


@router.post(
    "/key/import",
    status_code=201,
    response_model=KeyStatusOut,
    responses=ADMIN_409,
    summary="Import the connector's key from a private key file of any format",
)
def import_key(request: Request, actor: ApiActor, body: ImportIn) -> dict[str, Any]:
    if (body.private_key is None) == (body.private_key_base64 is None):
        raise InvalidInput("give exactly one of private_key or private_key_base64")
    if body.private_key is not None:
        data = body.private_key.encode("utf-8")
    else:
        try:
            data = base64.b64decode(body.private_key_base64 or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("private_key_base64 is not base64") from exc
    secret = body.passphrase.encode("utf-8") if body.passphrase else None
    status = connector_admin.import_key(
        ctx_of(request), actor, data, secret, filename=body.filename, hint=HINT
    )
    return status.to_json()


# ---- hosts --------------------------------------------------------------------------------


@router.get("/hosts", response_model=list[HostKeyOut], responses=ADMIN, summary="Pinned host keys")
def hosts(
    request: Request, response: Response, actor: ApiActor, page: Paging
) -> list[dict[str, Any]]:
    found = paged(connector_admin.list_pins(ctx_of(request), actor), page)
    link_header(request, response, found)
    return [p.to_json() for p in found.items]


@router.post(
    "/hosts/scan",
    response_model=HostScanOut,
    responses=ADMIN_SCAN,
    summary="The keys a host presents, compared with its pins (pins nothing)",
)
def scan(request: Request, actor: ApiActor, body: ScanIn) -> dict[str, Any]:
    return connector_admin.scan_host(ctx_of(request), actor, body.host).to_json()


@router.post(
    "/hosts/pins",
    status_code=201,
    response_model=list[HostKeyOut],
    responses=ADMIN_SCAN,
    summary="Pin a host key: by a fingerprint the host presents, the key, or known_hosts",
)
def pin(request: Request, actor: ApiActor, body: PinIn) -> list[dict[str, Any]]:
    pins = connector_admin.pin_host(
        ctx_of(request),
        actor,
        body.host,
        fingerprint=body.fingerprint,
        key_line=body.key,
        known_hosts=body.known_hosts.encode("utf-8") if body.known_hosts is not None else None,
    )
    return [p.to_json() for p in pins]


@router.delete(
    "/hosts/{host}",
    status_code=204,
    responses=ADMIN,
    summary="Remove every pin of HOST[:PORT]",
)
def unpin(
    request: Request,
    actor: ApiActor,
    host: Annotated[str, Path(max_length=300, examples=["git.example.com:2222"])],
) -> Response:
    connector_admin.unpin_host(ctx_of(request), actor, host)
    return Response(status_code=204)


# ---- repositories ---------------------------------------------------------------------------


@router.post(
    "/repositories",
    status_code=201,
    response_model=AddedRepositoryOut,
    responses=ADMIN_409,
    summary="Connect a repository (its webhook secret is in this answer only)",
)
def add_repository(request: Request, actor: ApiActor, body: RepositoryIn) -> dict[str, Any]:
    added = connector_admin.add_repository(
        ctx_of(request), actor, body.url, name=body.name, interval=body.interval
    )
    return added.to_json()


@router.delete(
    "/repositories/{name}",
    status_code=204,
    responses=ADMIN,
    summary="Disconnect a repository (its mirror and index go)",
)
def remove_repository(
    request: Request, actor: ApiActor, name: Annotated[str, Path(max_length=100)]
) -> Response:
    connector_admin.remove_repository(ctx_of(request), actor, name)
    return Response(status_code=204)


def _report(report: Any) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "new_key_promoted": report.new_key_promoted,
        "repositories": [{**v.to_json(), "line": v.line()} for v in report.verdicts],
    }


@router.post(
    "/repositories/{name}/test",
    response_model=TestReportOut,
    responses=ADMIN,
    summary="Test one repository: ok (refs, default branch) or a classified failure and its fix",
)
def test_repository(
    request: Request, actor: ApiActor, name: Annotated[str, Path(max_length=100)]
) -> dict[str, Any]:
    return _report(connector_admin.run_test(ctx_of(request), actor, [name]))


@router.post(
    "/test",
    response_model=TestReportOut,
    responses=ADMIN,
    summary="Test every repository (a pending key replaces the old one once all accept it)",
)
def test_all(request: Request, actor: ApiActor) -> dict[str, Any]:
    return _report(connector_admin.run_test(ctx_of(request), actor))
