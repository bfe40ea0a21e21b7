"""Settings: defaults < TOML file < GITWARD_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitward.errors import ConfigurationError
from gitward.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "GITWARD_DATA_DIR",
        "GITWARD_SSH_PORT",
        "GITWARD_HOSTNAME",
        "GITWARD_CONFIG",
        "GITWARD_DATABASE_URL",
        "GITWARD_MAX_AUTH_TRIES",
        "GITWARD_LOG_FORMAT",
        "GITWARD_METRICS_PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_ok_defaults() -> None:
    s = load_settings()
    assert (s.data_dir, s.ssh_port, s.http_port, s.hostname, s.max_auth_tries) == (
        Path("var"),
        2222,
        8080,
        "localhost",
        6,
    )
    assert s.resolved_database_url == f"sqlite:///{Path('var/gitward.db').resolve()}"


def test_ok_each_source_overrides_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gitward.toml"
    config.write_text('ssh_port = 3000\nhostname = "file.example"\nmax_auth_tries = 3\n')
    monkeypatch.setenv("GITWARD_CONFIG", str(config))
    assert load_settings().ssh_port == 3000
    monkeypatch.setenv("GITWARD_SSH_PORT", "4000")
    s = load_settings()
    assert (s.ssh_port, s.hostname, s.max_auth_tries) == (4000, "file.example", 3)
    s = load_settings({"ssh_port": 5000, "hostname": None})
    assert (s.ssh_port, s.hostname) == (5000, "file.example")


def test_ok_toml_in_data_dir_is_read(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "gitward.toml").write_text('hostname = "Git.Example.COM"\n')
    assert load_settings({"data_dir": tmp_path / "d"}).hostname == "git.example.com"


@pytest.mark.parametrize(
    "case, toml, message",
    [
        ("fail/unknown-key", "sshport = 1\n", "invalid setting sshport"),
        ("fail/bad-port", "ssh_port = 70000\n", "invalid setting ssh_port"),
        ("fail/bad-hostname", 'hostname = "a b"\n', "invalid setting hostname"),
        ("fail/not-toml", "ssh_port = = 1\n", "is not valid TOML"),
    ],
)
def test_fail_bad_settings_are_named(tmp_path: Path, case: str, toml: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    with pytest.raises(ConfigurationError, match=message):
        load_settings(config_file=config)


def test_fail_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.toml")


def test_ok_proxy_trust_lists_take_cidrs_and_addresses() -> None:
    s = load_settings({"proxy_protocol_trusted": "10.0.0.5, 192.0.2.0/24,2001:db8::/32"})
    assert s.proxy_protocol_trusted.startswith("10.0.0.5")
    assert load_settings().proxy_protocol_trusted == ""  # off unless set


@pytest.mark.parametrize("name", ["proxy_protocol_trusted", "http_trusted_proxies"])
def test_fail_proxy_trust_list_that_is_not_cidrs(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"invalid setting {name}.*'lb.example.com'"):
        load_settings({name: "10.0.0.5, lb.example.com"})


def test_ok_log_format_and_metrics_address_from_each_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (load_settings().log_format, load_settings().metrics_port) == ("console", None)
    monkeypatch.setenv("GITWARD_LOG_FORMAT", "json")
    monkeypatch.setenv("GITWARD_METRICS_PORT", "9101")
    s = load_settings()
    assert (s.log_format, s.metrics_host, s.metrics_port) == ("json", "127.0.0.1", 9101)
    s = load_settings({"log_format": "console", "metrics_host": "10.0.0.5"})
    assert (s.log_format, s.metrics_host) == ("console", "10.0.0.5")


def test_fail_log_format_must_be_console_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITWARD_LOG_FORMAT", "xml")
    with pytest.raises(ConfigurationError, match="invalid setting log_format"):
        load_settings()
