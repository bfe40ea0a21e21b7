"""Remote URLs: every form git reads over SSH, and the refusals, from strings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitward.connector.urls import InvalidRemoteURL, parse_host_port, parse_remote_url
from gitward.errors import GitwardError

OK = {
    "ok/scp-github": ("git@github.com:acme/app.git", "git", "github.com", 22, "acme/app.git"),
    "ok/scp-no-user": ("host.example:app.git", None, "host.example", 22, "app.git"),
    "ok/scp-upper-host": ("git@GitHub.COM:acme/app", "git", "github.com", 22, "acme/app"),
    "ok/scp-home": ("me@h:~/repos/app.git", "me", "h", 22, "~/repos/app.git"),
    "ok/scp-old-port": (
        "[git@h.example:2222]:acme/app.git",
        "git",
        "h.example",
        2222,
        "acme/app.git",
    ),
    "ok/scp-old-port-ip": (
        "[root@127.0.0.1:2310]:/srv/a.git",
        "root",
        "127.0.0.1",
        2310,
        "/srv/a.git",
    ),
    "ok/scp-ipv6": ("git@[::1]:acme/app.git", "git", "::1", 22, "acme/app.git"),
    "ok/ssh-port": (
        "ssh://git@127.0.0.1:2310/acme/app.git",
        "git",
        "127.0.0.1",
        2310,
        "/acme/app.git",
    ),
    "ok/ssh-no-port": (
        "ssh://org-7@git.example.com/acme/app.git",
        "org-7",
        "git.example.com",
        22,
        "/acme/app.git",
    ),
    "ok/ssh-ipv6": ("ssh://git@[2001:db8::1]:2222/x.git", "git", "2001:db8::1", 2222, "/x.git"),
    "ok/git+ssh": ("git+ssh://u@h/p.git", "u", "h", 22, "/p.git"),
    "ok/ssh-home": ("ssh://u@h/~/p.git", "u", "h", 22, "/~/p.git"),
}


@pytest.mark.parametrize("name", OK)
def test_ok_forms(name: str) -> None:
    text, user, host, port, path = OK[name]
    url = parse_remote_url(text)
    assert (url.user, url.host, url.port, url.path) == (user, host, port, path)


def test_ok_git_url_keeps_the_form_and_makes_the_user_explicit() -> None:
    assert parse_remote_url("h:app.git").git_url == "git@h:app.git"
    assert parse_remote_url("[u@h:2222]:a/b.git").git_url == "[u@h:2222]:a/b.git"
    assert parse_remote_url("ssh://h:2310/a/b.git").git_url == "ssh://git@h:2310/a/b.git"
    assert parse_remote_url("ssh://u@[::1]/a.git").git_url == "ssh://u@[::1]:22/a.git"


def test_ok_host_port_and_default_name() -> None:
    url = parse_remote_url("ssh://git@127.0.0.1:2310/acme/app.git")
    assert url.host_port == "127.0.0.1:2310"
    assert url.known_hosts_name == "[127.0.0.1]:2310"
    assert url.default_name == "app"
    assert parse_remote_url("git@h:app.git").known_hosts_name == "h"
    assert parse_host_port("[::1]:2222") == ("::1", 2222)
    assert parse_host_port("Example.com") == ("example.com", 22)


FAIL = {
    "fail/https": ("https://github.com/acme/app.git", "https:// URLs are not supported"),
    "fail/file": ("file:///srv/app.git", "file:// URLs are not supported"),
    "fail/local-path": ("/srv/git/app.git", "local paths are not remote"),
    "fail/relative-path": ("./app.git", "cannot read"),
    "fail/option-host": ("ssh://-oProxyCommand=x/app.git", "cannot start with '-'"),
    "fail/option-user": ("-oProxyCommand=x@h:app.git", "not usable"),
    "fail/option-path": ("git@h:-u.git", "cannot start with '-'"),
    "fail/no-path": ("ssh://git@h:22/", "names no repository path"),
    "fail/bad-port": ("ssh://git@h:99999/a.git", "1 to 65535"),
    "fail/space": ("git@h:a b.git", "spaces or control characters"),
    "fail/newline": ("git@h:a\nb.git", "spaces or control characters"),
    "fail/empty": ("  ", "empty"),
    "fail/quote": ("git@h:a'b.git", "quotes"),
}


@pytest.mark.parametrize("name", FAIL)
def test_fail_refusals_say_why(name: str) -> None:
    text, said = FAIL[name]
    with pytest.raises(InvalidRemoteURL) as info:
        parse_remote_url(text)
    assert said in info.value.message


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_url_or_a_gitward_error(text: str) -> None:
    try:
        url = parse_remote_url(text)
    except GitwardError:
        return
    # Whatever parses round-trips through the URL git is given.
    again = parse_remote_url(url.git_url)
    assert (again.host, again.port, again.ssh_user) == (url.host, url.port, url.ssh_user)
    assert not url.host.startswith("-") and not url.path.startswith("-")


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,5})?", fullmatch=True),
    st.integers(1, 65535),
    st.from_regex(r"[a-z0-9_]{1,10}(/[a-z0-9_.]{1,10}){0,2}", fullmatch=True),
)
def test_ssh_form_round_trips(host: str, port: int, path: str) -> None:
    url = parse_remote_url(f"ssh://git@{host}:{port}/{path}")
    assert (url.host, url.port, url.path) == (host, port, "/" + path)
