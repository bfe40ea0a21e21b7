"""Shared setup for the issuing-service tests: users, orgs, a managed CA, tokens, keys."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pydantic import SecretStr

from gitward.keys.api import export_public_key
from gitward.keys.generate import generate_key
from gitward.services import accounts, managed_ca, orgs, tokens
from gitward.services.context import Context
from gitward.services.views import CAView

PG_SECRET = SecretStr("test-secret-0123456789abcdef0123456789")


def with_secret(ctx: Context) -> Context:
    """PostgreSQL deployments must configure the CA secret; SQLite generates one."""
    if ctx.settings.resolved_database_url.startswith("postgresql"):
        settings = ctx.settings.model_copy(update={"ca_secret": PG_SECRET})
        return dataclasses.replace(ctx, settings=settings)
    return ctx


def public_line(algorithm: str = "ed25519", bits: int | None = None) -> str:
    return export_public_key(generate_key(algorithm, bits, comment="me@laptop")).decode().strip()


@dataclass
class World:
    ctx: Context
    alice_token: str
    bob_token: str
    ca: CAView


def build_world(ctx: Context) -> World:
    accounts.create_user(ctx, "alice")
    accounts.create_user(ctx, "bob")
    orgs.create_org(ctx, "acme")
    orgs.add_member(ctx, "acme", "alice")
    ca = managed_ca.create_managed_ca(ctx, org="acme")
    alice = tokens.create_token(ctx, "alice").token
    bob = tokens.create_token(ctx, "bob").token
    return World(ctx, alice, bob, ca)
