"""``/api/v1/ssh/certificates``: issue a certificate for oneself; list issued ones."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gitward.services.issuing import IssuedView, Issuer, IssueRequest, IssuingDisabled, list_issued

router = APIRouter(prefix="/ssh/certificates", tags=["SSH certificates"])
# auto_error=False: a missing token is answered by our own 401 JSON, not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="A personal access token (gwp_...)")


class ErrorDetail(BaseModel):
    code: str = Field(examples=["lifetime_too_long"])
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class CertificateRequestBody(BaseModel):
    public_key: str = Field(
        max_length=16384,
        description="Your public key as one OpenSSH line ('ssh-ed25519 AAAA... comment').",
        examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... alice@laptop"],
    )
    organization: str | None = Field(
        default=None,
        max_length=39,
        description="The organization whose CA signs; optional when only one of yours issues.",
    )
    validity: str | None = Field(
        default=None,
        max_length=64,
        description="How long the certificate lives, as an interval (30m, 8h, 1d, +1d). "
        "Default: the server's default, at most the organization's cap (24h unless set).",
        examples=["8h"],
    )
    bind_source_address: bool = Field(
        default=False,
        description="Restrict the certificate to the address this request "
        "comes from (a source-address critical option).",
    )
    options: list[Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=list,
        max_length=16,
        description="Restrictions in ssh-keygen -O form: no-pty, no-x11-forwarding, "
        "no-agent-forwarding, no-port-forwarding, no-user-rc, force-command=CMD, "
        "source-address=CIDR[,CIDR...].",
    )


class OrganizationRef(BaseModel):
    id: int | None
    name: str


class CertificateInfo(BaseModel):
    serial: int
    key_id: str
    certificate: str = Field(description="The certificate, one line, as in a -cert.pub file.")
    certificate_fingerprint: str
    public_key_fingerprint: str
    ca_fingerprint: str
    user: str
    user_id: int | None
    principals: list[str]
    valid_after: dt.datetime
    valid_before: dt.datetime
    critical_options: dict[str, str]
    extensions: dict[str, str]
    requester_address: str | None
    organization_id: int | None
    created_at: dt.datetime


class IssuedCertificateResponse(CertificateInfo):
    organization: OrganizationRef
    hostname: str = Field(description="The SSH host name clients connect to.")
    ssh_port: int
    ssh_user: str = Field(description="The SSH user for this organization: org-ID.")
    clone_prefix: str = Field(description="ssh_user@hostname, the start of clone URLs.")


class CertificateList(BaseModel):
    certificates: list[CertificateInfo]


_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "No token, or an unknown, revoked or expired one"),
        (403, "Wrong scope, suspended user, not a member, or a revoked key"),
        (409, "The organization has no managed certificate authority"),
        (422, "Not a valid public key, a lifetime over the cap, or an option not allowed"),
        (503, "Issuing is disabled: the deployment has no CA secret"),
    )
}


def _token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None else None


def _issuer(request: Request) -> Issuer:
    issuer: Issuer | None = request.app.state.issuer
    if issuer is None:
        raise IssuingDisabled(request.app.state.issuing_disabled or "issuing is disabled")
    return issuer


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@router.post(
    "",
    status_code=201,
    response_model=IssuedCertificateResponse,
    responses=_ERRORS,
    summary="Get a certificate for your own key",
)
async def issue_certificate(
    body: CertificateRequestBody, request: Request, credentials: Credentials
) -> dict[str, object]:
    """Sign `public_key` with the organization's managed CA, for the token's user only.

    The certificate carries `login@HOSTNAME=USERNAME` and `id@HOSTNAME=USERID`, principal
    USERNAME, key id `USERNAME-SERIAL` and the usual `permit-*` extensions. Like
    `ssh-keygen -V +1d`, it starts at the beginning of the minute at least 59 s ago
    (clients with clocks a little behind); the lifetime cap counts from now.
    """
    issue = IssueRequest(
        public_key=body.public_key,
        organization=body.organization,
        validity=body.validity,
        bind_source_address=body.bind_source_address,
        options=tuple(body.options),
        peer=request.client.host if request.client else None,
    )
    issuer = _issuer(request)
    result = await run_in_threadpool(issuer.issue, _token(credentials), issue)
    return result.to_json()


@router.get(
    "",
    response_model=CertificateList,
    responses=_ERRORS,
    summary="List issued certificates (yours; everyone's for site admins)",
)
async def list_certificates(
    request: Request,
    credentials: Credentials,
    valid_now: Annotated[bool, Query(description="Only those valid at this moment")] = False,
) -> dict[str, object]:
    ctx = request.app.state.ctx
    found: list[IssuedView] = await run_in_threadpool(
        lambda: list_issued(ctx, _token(credentials), valid_now=valid_now)
    )
    return {"certificates": [v.to_json() for v in found]}
