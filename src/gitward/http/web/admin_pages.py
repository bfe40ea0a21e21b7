"""Administration (site admins): users, organizations, "who holds this key?", the
certificate inventory and revocation, the KRL, the audit trail with export."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response, StreamingResponse

from gitward.errors import GitwardError, InvalidInput, NotFound
from gitward.http.api.deps import RowId
from gitward.http.web.pages import (
    CurrentActor,
    base_url,
    ctx_of,
    echo_key,
    failed,
    form_time,
    redirect,
    render,
)
from gitward.services import administration
from gitward.services.actor import Actor
from gitward.services.administration import AuditFilters, CertificateFilters
from gitward.services.paging import PageRequest

router = APIRouter(prefix="/admin")

Text = Annotated[str, Form()]
OptionalText = Annotated[str, Form()]


@router.get("")
def admin_home(actor: CurrentActor) -> Response:
    return redirect("/admin/users")


# --- users --------------------------------------------------------------------------------


def _users(request: Request, actor: Actor, **data: object) -> dict[str, Any]:
    return {
        "users": administration.list_users(ctx_of(request), actor),
        "invitation": None,
        "username": "",
        **data,
    }


@router.get("/users")
def users(request: Request, actor: CurrentActor) -> Response:
    return render(request, "admin/users.html", **_users(request, actor))


@router.post("/users")
def create_user(
    request: Request, actor: CurrentActor, username: Text, site_admin: OptionalText = ""
) -> Response:
    ctx = ctx_of(request)
    try:
        made = administration.create_user(
            ctx, actor, username.strip(), site_admin=site_admin == "on", base_url=_base(request)
        )
    except GitwardError as exc:
        return failed(request, "admin/users.html", exc, **_users(request, actor, username=username))
    # The invitation link is shown on this response: it is the new user's way in.
    return render(request, "admin/users.html", **_users(request, actor, invitation=made))


def _base(request: Request) -> str:
    return base_url(request)


def _user_page(request: Request, actor: Actor, name: str, **data: object) -> dict[str, Any]:
    ctx = ctx_of(request)
    found = [u for u in administration.list_users(ctx, actor) if u.username.lower() == name.lower()]
    if not found:
        raise NotFound(f"no user named {name!r}")
    return {
        "user": found[0],
        "keys": administration.user_keys(ctx, actor, found[0].username),
        "invitation_url": None,
        "key": "",
        "title": "",
        **data,
    }


@router.get("/users/{name}")
def user_page(request: Request, actor: CurrentActor, name: str) -> Response:
    return render(request, "admin/user.html", **_user_page(request, actor, name))


@router.post("/users/{name}/rename")
def rename_user(request: Request, actor: CurrentActor, name: str, new_name: Text) -> Response:
    try:
        user = administration.rename_user(ctx_of(request), actor, name, new_name.strip())
    except GitwardError as exc:
        return failed(request, "admin/user.html", exc, **_user_page(request, actor, name))
    return redirect(f"/admin/users/{user.username}", "user-saved")


@router.post("/users/{name}/suspend")
def suspend_user(request: Request, actor: CurrentActor, name: str, suspended: Text) -> Response:
    try:
        administration.set_suspended(ctx_of(request), actor, name, suspended == "yes")
    except GitwardError as exc:
        return failed(request, "admin/user.html", exc, **_user_page(request, actor, name))
    return redirect(f"/admin/users/{name}", "user-saved")


@router.post("/users/{name}/invite")
def invite_user(request: Request, actor: CurrentActor, name: str) -> Response:
    url = administration.invite(ctx_of(request), actor, name, base_url=_base(request))
    return render(
        request, "admin/user.html", **_user_page(request, actor, name, invitation_url=url)
    )


@router.post("/users/{name}/keys")
def add_user_key(
    request: Request, actor: CurrentActor, name: str, key: Text, title: OptionalText = ""
) -> Response:
    try:
        administration.add_user_key(ctx_of(request), actor, name, key.encode("utf-8"), title=title)
    except GitwardError as exc:
        data = _user_page(request, actor, name, key=echo_key(key), title=title)
        return failed(request, "admin/user.html", exc, **data)
    return redirect(f"/admin/users/{name}", "key-added")


@router.post("/users/{name}/keys/{key_id}/delete")
def remove_user_key(request: Request, actor: CurrentActor, name: str, key_id: RowId) -> Response:
    administration.remove_user_key(ctx_of(request), actor, name, key_id)
    return redirect(f"/admin/users/{name}", "key-removed")


# --- organizations ---------------------------------------------------------------------------


def _orgs(request: Request, actor: Actor, **data: object) -> dict[str, Any]:
    ctx = ctx_of(request)
    return {
        "organizations": administration.list_orgs(ctx, actor),
        "enterprises": administration.list_enterprises(ctx, actor),
        "org_name": "",
        "enterprise_name": "",
        **data,
    }


@router.get("/organizations")
def organizations(request: Request, actor: CurrentActor) -> Response:
    return render(request, "admin/organizations.html", **_orgs(request, actor))


@router.post("/organizations")
def create_org(
    request: Request, actor: CurrentActor, name: Text, enterprise: OptionalText = ""
) -> Response:
    from gitward.services import org_settings

    try:
        org = org_settings.create_org(ctx_of(request), actor, name.strip(), enterprise=enterprise)
    except GitwardError as exc:
        return failed(
            request, "admin/organizations.html", exc, **_orgs(request, actor, org_name=name)
        )
    return redirect(f"/orgs/{org.name}", "org-created")


@router.post("/enterprises")
def create_enterprise(request: Request, actor: CurrentActor, name: Text) -> Response:
    from gitward.services import org_settings

    try:
        org_settings.create_enterprise(ctx_of(request), actor, name.strip())
    except GitwardError as exc:
        data = _orgs(request, actor, enterprise_name=name)
        return failed(request, "admin/organizations.html", exc, **data)
    return redirect("/admin/organizations", "enterprise-created")


# --- who holds this key? ----------------------------------------------------------------------


@router.get("/keys")
def key_lookup(request: Request, actor: CurrentActor, fingerprint: str = "") -> Response:
    holder = None
    if fingerprint.strip():
        try:
            holder = administration.who_holds(ctx_of(request), actor, fingerprint)
        except GitwardError as exc:
            return failed(
                request, "admin/keys.html", exc, fingerprint=fingerprint, holder=None, asked=True
            )
    else:
        # Still decides who may see the page (site admins), even with nothing asked.
        administration.list_orgs(ctx_of(request), actor)
    return render(
        request,
        "admin/keys.html",
        fingerprint=fingerprint,
        holder=holder,
        asked=bool(fingerprint.strip()),
    )


# --- certificates -------------------------------------------------------------------------------


@router.get("/certificates")
def certificates(
    request: Request,
    actor: CurrentActor,
    user: str = "",
    organization: str = "",
    ca: str = "",
    status: str = "",
    expiring_before: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    filters = {
        "user": user,
        "organization": organization,
        "ca": ca,
        "status": status,
        "expiring_before": expiring_before,
    }
    try:
        found = administration.certificates_page(
            ctx_of(request),
            actor,
            CertificateFilters(
                user or None,
                organization or None,
                ca or None,
                status or None,
                form_time(expiring_before),
            ),
            PageRequest(page, 50),
        )
    except InvalidInput as exc:
        return failed(request, "admin/certificates.html", exc, filters=filters, found=None)
    return render(request, "admin/certificates.html", filters=filters, found=found)


@router.post("/certificates/revoke")
def revoke(
    request: Request,
    actor: CurrentActor,
    what: Text,
    serial: OptionalText = "",
    key_id: OptionalText = "",
    ca: OptionalText = "",
    key: OptionalText = "",
    reason: OptionalText = "",
) -> Response:
    ctx = ctx_of(request)
    try:
        if what == "serial":
            number = serial.strip()
            # ASCII digits of a uint64 ("²".isdigit() is true; int() refuses 4301 digits).
            digits = number.lstrip("0") or "0"
            if not (number.isascii() and number.isdigit() and len(digits) <= 20):
                raise InvalidInput("give the certificate's serial number (0 to 2^64-1)")
            if int(digits) >= 2**64:
                raise InvalidInput("give the certificate's serial number (0 to 2^64-1)")
            administration.revoke_certificate(ctx, actor, int(digits), reason=reason)
        elif what == "key_id":
            administration.revoke_key_id(ctx, actor, key_id.strip(), ca=ca.strip(), reason=reason)
        elif what == "key":
            administration.revoke_key(ctx, actor, key.encode("utf-8"), reason=reason)
        else:
            raise InvalidInput("revoke a serial, a key id or a key")
    except GitwardError as exc:
        filters = {"user": "", "organization": "", "ca": "", "status": "", "expiring_before": ""}
        found = administration.certificates_page(
            ctx, actor, CertificateFilters(), PageRequest(1, 50)
        )
        return failed(request, "admin/certificates.html", exc, filters=filters, found=found)
    return redirect("/admin/certificates", "revoked")


@router.get("/krl")
def krl(request: Request, actor: CurrentActor, ca: str = "") -> Response:
    result = administration.export_krl(ctx_of(request), actor, ca or None)
    return Response(
        result.data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="gitward.krl"'},
    )


# --- the audit trail --------------------------------------------------------------------------


@dataclass
class AuditForm:
    """The audit filters as the form (and the export links) send them."""

    user: str = ""
    repository: str = ""
    outcome: str = ""
    reason: str = ""
    after: str = ""
    before: str = ""

    def filters(self) -> AuditFilters:
        return AuditFilters(
            actor=self.user or None,
            repository=self.repository or None,
            outcome=self.outcome or None,
            reason=self.reason or None,
            after=form_time(self.after),
            before=form_time(self.before),
        )

    def query(self) -> str:
        return urlencode({k: v for k, v in asdict(self).items() if v})


Audit = Annotated[AuditForm, Depends()]


@router.get("/audit")
def audit(
    request: Request, actor: CurrentActor, form: Audit, page: Annotated[int, Query(ge=1)] = 1
) -> Response:
    values = asdict(form)
    try:
        found = administration.audit_page(
            ctx_of(request), actor, form.filters(), PageRequest(page, 50)
        )
    except InvalidInput as exc:
        return failed(request, "admin/audit.html", exc, filters=values, found=None, query="")
    return render(request, "admin/audit.html", filters=values, found=found, query=form.query())


@router.get("/audit/export")
def audit_export(
    request: Request, actor: CurrentActor, form: Audit, format: str = "csv"
) -> Response:
    chunks = administration.export_audit(ctx_of(request), actor, form.filters(), format)
    media = "text/csv" if format == "csv" else "application/json"
    return StreamingResponse(
        chunks,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="gitward-audit.{format}"'},
    )
