"""Site administration: the certificate inventory and revocation, the KRL, the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from gitward.errors import InvalidInput
from gitward.http.api.deps import STANDARD, ApiActor, Paging, ctx_of, link_header
from gitward.http.api.keys import CertificateOut
from gitward.services import administration
from gitward.services.administration import AuditFilters, CertificateFilters

router = APIRouter(tags=["Administration"])


@router.get("/admin/ssh-certificates", response_model=list[CertificateOut], responses=STANDARD)
def certificates(
    request: Request,
    response: Response,
    actor: ApiActor,
    page: Paging,
    user: str | None = None,
    organization: str | None = None,
    ca: Annotated[str | None, Query(description="The signing CA's fingerprint")] = None,
    status: Annotated[Literal["valid", "expired", "revoked"] | None, Query()] = None,
    expiring_before: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Every certificate Gitward issued, newest first, with filters (site admins)."""
    if expiring_before is not None and expiring_before.tzinfo is None:
        expiring_before = expiring_before.replace(tzinfo=dt.UTC)
    filters = CertificateFilters(user, organization, ca, status, expiring_before)
    found = administration.certificates_page(ctx_of(request), actor, filters, page)
    link_header(request, response, found)
    return [c.to_json() for c in found.items]


class RevocationIn(BaseModel):
    serial: int | None = Field(default=None, description="One issued certificate, by serial")
    key_id: str | None = Field(default=None, max_length=1024, description="A key id")
    ca: str | None = Field(default=None, description="Limit a key id to this CA (SHA256:...)")
    key: str | None = Field(
        default=None,
        max_length=65536,
        description="A public key (revoked as a key and under every certificate; a CA's key "
        "revokes the CA) or a certificate line",
    )
    reason: str = Field(default="", max_length=200)


class RevocationOut(BaseModel):
    id: int
    kind: str
    description: str
    ca_fingerprint: str | None
    serial_min: int | None
    serial_max: int | None
    key_id: str | None
    fingerprint: str | None
    reason: str


@router.post(
    "/admin/ssh-certificates/revocations",
    status_code=201,
    response_model=RevocationOut,
    responses=STANDARD,
)
def revoke(request: Request, actor: ApiActor, body: RevocationIn) -> dict[str, Any]:
    """Revoke one certificate (serial), a key id, or a key; enforced on the next
    connection by every frontend."""
    ctx = ctx_of(request)
    given = [v for v in (body.serial, body.key_id, body.key) if v is not None]
    if len(given) != 1:
        raise InvalidInput("give exactly one of serial, key_id or key")
    if body.serial is not None:
        done = administration.revoke_certificate(ctx, actor, body.serial, reason=body.reason)
    elif body.key_id is not None:
        done = administration.revoke_key_id(ctx, actor, body.key_id, ca=body.ca, reason=body.reason)
    else:
        assert body.key is not None
        done = administration.revoke_key(ctx, actor, body.key.encode("utf-8"), reason=body.reason)
    return done.to_json()


@router.get(
    "/admin/krl",
    response_class=Response,
    responses={
        **STANDARD,
        200: {"content": {"application/octet-stream": {}}, "description": "An OpenSSH KRL"},
    },
)
def krl(
    request: Request,
    actor: ApiActor,
    ca: Annotated[str | None, Query(description="Only this CA's sections")] = None,
) -> Response:
    """Every revocation as an OpenSSH KRL (for sshd's RevokedKeys, ssh-keygen -Q)."""
    result = administration.export_krl(ctx_of(request), actor, ca)
    return Response(
        result.data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": 'attachment; filename="gitward.krl"',
            "X-Skipped-Entries": str(result.skipped),
        },
    )


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    peer: str | None
    reason: str | None
    detail: dict[str, Any]


@router.get("/admin/audit-log", response_model=list[AuditOut], responses=STANDARD)
def audit_log(
    request: Request,
    response: Response,
    actor: ApiActor,
    page: Paging,
    user: Annotated[str | None, Query(description="Who acted (a user name, sshd, cli)")] = None,
    repository: Annotated[str | None, Query(description="OWNER/NAME")] = None,
    action: str | None = None,
    outcome: Literal["ok", "denied"] | None = None,
    reason: Annotated[str | None, Query(description="e.g. cert.expired, key.unknown")] = None,
    after: dt.datetime | None = None,
    before: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The audit trail, newest first (site admins)."""

    def aware(value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value and value.tzinfo is None else value

    filters = AuditFilters(user, repository, action, outcome, reason, aware(after), aware(before))
    found = administration.audit_page(ctx_of(request), actor, filters, page)
    link_header(request, response, found)
    return [row.to_json() for row in found.items]
