"""The navigation, as data: the top bar and the Administration section's tabs.

Adding a section is one entry here plus its router in ``site.routers()``, as the
connector's pages did (``NavItem("Connector", "/admin/connector")`` in ``ADMIN_SECTIONS``,
connector_pages.router); no template changes. Whether
an item shows depends on the actor (``site_admin``), but that only hides links: every
page's service decides again who may see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class NavItem:
    title: str
    path: str
    site_admin_only: bool = False

    def active(self, current_path: str) -> bool:
        return current_path == self.path or current_path.startswith(self.path.rstrip("/") + "/")


TOP: Final[list[NavItem]] = [
    NavItem("Repositories", "/repositories"),
    NavItem("Organizations", "/organizations"),
    NavItem("Settings", "/settings"),
    NavItem("Administration", "/admin", site_admin_only=True),
]

SETTINGS_SECTIONS: Final[list[NavItem]] = [
    NavItem("SSH keys", "/settings/keys"),
    NavItem("Certificates", "/settings/certificates"),
    NavItem("Tokens", "/settings/tokens"),
    NavItem("Password and sessions", "/settings/security"),
]

ADMIN_SECTIONS: Final[list[NavItem]] = [
    NavItem("Users", "/admin/users", site_admin_only=True),
    NavItem("Organizations", "/admin/organizations", site_admin_only=True),
    NavItem("Who holds this key?", "/admin/keys", site_admin_only=True),
    NavItem("Certificates", "/admin/certificates", site_admin_only=True),
    NavItem("Audit trail", "/admin/audit", site_admin_only=True),
    NavItem("Connector", "/admin/connector", site_admin_only=True),
]


def visible(items: list[NavItem], site_admin: bool) -> list[NavItem]:
    return [item for item in items if site_admin or not item.site_admin_only]
