"""Settings: defaults < TOML file < ``GITWARD_*`` environment < command-line flags.

The TOML file is ``--config FILE`` or ``GITWARD_CONFIG``; when neither is given,
``DATA_DIR/gitward.toml`` is read if it exists. Keys in the file are the field names below
(``ssh_port = 2222``).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gitward.errors import ConfigurationError

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    """Everything a deployment can set: each field is a flag, a GITWARD_* variable, a TOML key."""

    model_config = SettingsConfigDict(env_prefix="GITWARD_", extra="forbid")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///DATA_DIR/gitward.db"
    )
    hostname: str = "localhost"
    ssh_host: str = Field(default="127.0.0.1", description="Address the SSH server listens on")
    ssh_port: int = Field(default=2222, ge=0, le=65535, description="SSH port, 0 for any free one")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on")
    http_port: int = Field(
        default=8080, ge=0, le=65535, description="HTTP port, 0 for any free one"
    )
    http_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest HTTP request body (413 beyond); webhooks may send 25 MiB",
    )
    http_max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Largest HTTP request line and headers together (431 beyond)",
    )
    login_grace_seconds: int = Field(
        default=30, ge=1, description="Seconds a connection may take to authenticate"
    )
    max_auth_tries: int = Field(
        default=6, ge=1, description="Failed authentication attempts allowed per connection"
    )
    # Sized for an event loop, not a process per connection: see sshd/limits.py.
    max_startups: str = Field(
        default="256:30:1024",
        description="Unauthenticated connections, OpenSSH's start:rate:full",
    )
    per_source_max_startups: int = Field(
        default=128,
        ge=0,
        description="Unauthenticated connections from one address (0: no limit)",
    )
    penalty_exempt: str = Field(
        default="",
        description="CIDR list never penalised nor limited per source (NAT, CI, proxies)",
    )
    proxy_protocol_trusted: str = Field(
        default="",
        description="CIDR list of load balancers whose PROXY protocol header (v1 or v2) names "
        "the client; from them the header is required (empty: off)",
    )
    proxy_protocol_timeout: float = Field(
        default=5.0, gt=0, le=300, description="Seconds a trusted balancer has to send the header"
    )
    http_trusted_proxies: str = Field(
        default="",
        description="CIDR list of HTTP proxies whose X-Forwarded-For and X-Forwarded-Proto "
        "are believed (empty: nobody's)",
    )
    stale_lock_seconds: int = Field(
        default=3600, ge=0, description="Git locks and quarantines older than this go at start"
    )
    shutdown_grace_seconds: int = Field(
        default=30,
        ge=0,
        description="Seconds a stop (SIGTERM) lets running git operations finish",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Server processes on the same ports (default: the number of cores; "
        "1: a single process)",
    )
    log_level: str = Field(default="info", description="debug, info, warning or error")
    log_format: Literal["console", "json"] = Field(
        default="console", description="console (for people) or json (one object a line)"
    )
    # Monitoring (issue 11): /metrics on the HTTP listener unless metrics_port is set.
    metrics_host: str = Field(
        default="127.0.0.1", description="Address of the metrics listener (with metrics_port)"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve /metrics on its own port instead of the HTTP listener",
    )
    # The issuing service (managed CAs, POST /api/v1/ssh/certificates).
    ca_secret: SecretStr | None = Field(
        default=None, description="Secret that encrypts managed CA keys (prefer ca_secret_file)"
    )
    ca_secret_file: Path | None = Field(
        default=None,
        description="File holding that secret; default DATA_DIR/ca-secret with SQLite",
    )
    issuer_default_lifetime: int = Field(
        default=86400,
        ge=60,
        lt=366 * 86400,
        description="Seconds an issued certificate lives when the request names no validity "
        "(never more than the organization's cap)",
    )
    # The web UI (issue 13).
    web_url: str | None = Field(
        default=None,
        description="The web UI's address in links (sign-in, invitations); "
        "default http://HOSTNAME:HTTP_PORT",
    )
    session_max_age_seconds: int = Field(
        default=7 * 86400, ge=300, description="Seconds a browser stays signed in"
    )
    signin_max_failures_per_account: int = Field(
        default=5, ge=1, description="Failed sign-ins per account name in 15 minutes"
    )
    signin_max_failures_per_address: int = Field(
        default=20, ge=1, description="Failed sign-ins from one address in 15 minutes"
    )

    # The repository connector (issue 10).
    connector_max_parallel: int = Field(
        default=4, ge=1, le=64, description="Connector repositories synced at once"
    )
    connector_connect_timeout: int = Field(
        default=10, ge=1, le=300, description="Seconds to connect and finish the SSH handshake"
    )
    connector_fetch_timeout: int = Field(
        default=3600, ge=10, description="Seconds one connector fetch may take"
    )
    connector_max_backoff: int = Field(
        default=3600, ge=60, description="Longest wait before retrying a failing repository"
    )
    connector_issue_key_pattern: str | None = Field(
        default=None,
        description="Regular expression with two groups (project, number); default Jira's",
    )
    connector_project_keys: str = Field(
        default="", description="Comma-separated project keys to index (empty: every project)"
    )
    connector_schedule: bool = Field(
        default=True, description="Whether serve syncs connector repositories on schedule"
    )

    @field_validator("hostname")
    @classmethod
    def _hostname_is_plain(cls, value: str) -> str:
        if not value or any(ch in value for ch in " @=/\t\n"):
            raise ValueError("hostname must be a plain host name such as git.example.com")
        return value.lower()

    @field_validator("proxy_protocol_trusted", "http_trusted_proxies")
    @classmethod
    def _cidr_list(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"{part.strip()!r} is not an address or CIDR block") from exc
        return value

    @field_validator("web_url")
    @classmethod
    def _web_url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("web_url must start with http:// or https://")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gitward.db').resolve()}"

    @property
    def resolved_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def repos_dir(self) -> Path:
        return self.data_dir / "repos"

    @property
    def resolved_web_url(self) -> str:
        if self.web_url:
            return self.web_url.rstrip("/")
        return f"http://{self.hostname}:{self.http_port}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"settings file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"settings file {path} is not valid TOML: {exc}") from exc


def load_settings(
    overrides: dict[str, Any] | None = None, *, config_file: Path | None = None
) -> Settings:
    """Build the settings from every source; ``overrides`` are the command-line flags.

    Flags whose value is None were not given and do not override anything.
    """
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    env_config = os.environ.get("GITWARD_CONFIG")
    explicit = config_file or (Path(env_config) if env_config else None)
    try:
        base = Settings()  # defaults < environment, to learn the data dir
        data_dir = Path(flags.get("data_dir", base.data_dir))
        toml_path = explicit or data_dir / "gitward.toml"
        file_values: dict[str, Any] = {}
        if explicit is not None or toml_path.exists():
            file_values = _read_toml(toml_path)
        env_values = {
            name: getattr(base, name)
            for name in base.model_fields_set
            if name in Settings.model_fields
        }
        merged = {**file_values, **env_values, **flags}
        return Settings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigurationError(f"invalid setting {field}: {first['msg']}") from exc
