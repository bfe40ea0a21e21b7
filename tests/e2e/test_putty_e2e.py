"""PuTTY's plink with a .ppk key, where PuTTY's tools are installed (issue 4, item 7)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitward.services import accounts, repositories
from gitward.services.context import Context
from tests.e2e.harness import Client, Server

MakeClient = Callable[..., Client]

pytestmark = pytest.mark.skipif(
    not (shutil.which("plink") and shutil.which("puttygen")),
    reason="PuTTY tests need plink and puttygen (Debian's putty-tools)",
)


def _host_key_args(server: Server) -> list[str]:
    args = []
    for pub in sorted(server.data_dir.glob("ssh_host_*_key.pub")):
        out = subprocess.run(
            ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
        ).stdout
        args += ["-hostkey", out.split()[1]]  # SHA256:... pins the server's keys
    return args


def test_ok_plink_with_ppk_greets_clones_and_pushes(
    admin: Context, make_client: MakeClient, server: Server
) -> None:
    client = make_client()
    accounts.create_user(admin, "putty-pat")
    accounts.add_key(admin, "putty-pat", Path(f"{client.key}.pub").read_bytes())
    repositories.create_repo(admin, "putty-pat/app")
    ppk = client.home / "id_key.ppk"
    subprocess.run(
        ["puttygen", str(client.key), "-O", "private", "-o", str(ppk)],
        check=True,
        capture_output=True,
    )
    plink = ["plink", "-batch", "-ssh", "-i", str(ppk), *_host_key_args(server)]
    greeting = subprocess.run(
        [*plink, "-P", str(server.port), "git@127.0.0.1"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )
    assert "Hi putty-pat!" in greeting.stderr + greeting.stdout
    env = {**client.env(), "GIT_SSH_COMMAND": " ".join(plink), "GIT_SSH_VARIANT": "plink"}
    work = client.home / "putty-work"
    clone = subprocess.run(
        ["git", "clone", "-q", client.url("putty-pat/app"), str(work)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert clone.returncode == 0, clone.stderr
    (work / "f.txt").write_text("from putty\n")
    subprocess.run(["git", "add", "f.txt"], cwd=work, env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "putty"], cwd=work, env=env, check=True)
    push = subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:refs/heads/main"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert push.returncode == 0, push.stderr
    heads = client.git("ls-remote", client.url("putty-pat/app"), "refs/heads/main")
    assert heads.code == 0 and heads.out.strip()
