"""`gitward keys generate|inspect|convert|check`: exit codes, files, messages."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitward.cli.keys import keys_group
from gitward.keys import KeyFormat, detect_format, inspect_key, load_private_key

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "keys"
PASSPHRASE = "correct horse"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(keys_group, list(args), env=env, catch_exceptions=False)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copy(VECTORS / name, target)
    return target


# ---- generate --------------------------------------------------------------------------


def test_generate_pem_rsa_for_pem_only_clients(tmp_path: Path) -> None:
    key = tmp_path / "id_rsa"
    result = run(
        "generate", "-t", "rsa", "-b", "2048", "--format", "pem", "-C", "ci", "-f", str(key)
    )
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    pub = Path(f"{key}.pub").read_text()
    assert pub.startswith("ssh-rsa ") and pub.rstrip().endswith(" ci")
    assert run("check", str(key), "--for", "pem-only").exit_code == 0


@pytest.mark.parametrize(
    ("args", "fmt"),
    [
        ((), KeyFormat.OPENSSH),
        (("--format", "ppk"), KeyFormat.PPK3),
        (("--format", "ppk2"), KeyFormat.PPK2),
        (("--format", "pkcs8"), KeyFormat.PKCS8),
        (("-t", "ecdsa", "-b", "384", "--format", "pem"), KeyFormat.SEC1),
    ],
    ids=lambda v: f"ok/{v}",
)
def test_generate_formats(tmp_path: Path, args: tuple[str, ...], fmt: KeyFormat) -> None:
    key = tmp_path / "k"
    assert run("generate", *args, "-f", str(key)).exit_code == 0
    assert detect_format(key.read_bytes()) is fmt


def test_generate_with_passphrase_from_env_never_echoes_it(tmp_path: Path) -> None:
    key = tmp_path / "k"
    result = run(
        "generate", "--new-passphrase-env", "GW_NEW", "-f", str(key), env={"GW_NEW": PASSPHRASE}
    )
    assert result.exit_code == 0
    assert PASSPHRASE not in result.output + result.stderr
    assert inspect_key(key.read_bytes()).encrypted
    load_private_key(key.read_bytes(), PASSPHRASE.encode())


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert run("generate", "-f", str(key)).exit_code == 0
    result = run("generate", "-f", str(key))
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {key} already exists: choose another name or pass --force"
    ]
    assert run("generate", "-f", str(key), "--force").exit_code == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("-t", "rsa", "-b", "1024"), 1, "2048 to 8192"),
        (("-t", "dsa"), 2, ""),
        (("--format", "rfc4716"), 2, ""),
        (("--new-passphrase-env", "GW_UNSET_VAR"), 1, "not set"),
    ],
    ids=lambda v: f"fail/{v}",
)
def test_generate_refusals(tmp_path: Path, args: tuple[str, ...], code: int, message: str) -> None:
    result = run("generate", *args, "-f", str(tmp_path / "k"))
    assert result.exit_code == code
    if code == 1:
        assert len(error_lines(result)) == 1 and message in result.stderr
        assert not (tmp_path / "k").exists()


# ---- inspect ---------------------------------------------------------------------------


def test_inspect_json(tmp_path: Path) -> None:
    path = copy(tmp_path, "sshkeygen_ed25519.openssh")
    result = run("inspect", str(path), "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    expected_fp = (VECTORS / "sshkeygen_ed25519.openssh.sha256.txt").read_text().split()[1]
    assert report["format"] == "openssh"
    assert report["algorithm"] == "ed25519" and report["bits"] == 256
    assert report["encrypted"] is False and report["comment"] == "ed25519@ssh-keygen"
    assert report["fingerprint_sha256"] == expected_fp
    assert report["public_key"].startswith("ssh-ed25519 AAAA")
    assert report["targets"]["openssh"]["usable"] is True
    assert report["targets"]["pem-only"]["usable"] is False
    assert "-t rsa -b 4096 --format pem" in report["targets"]["pem-only"]["fix"]


def test_inspect_text_shows_everything(tmp_path: Path) -> None:
    path = copy(tmp_path, "puttygen_ecdsa384_enc.ppk")
    result = run("inspect", str(path))
    assert result.exit_code == 0
    for needle in (
        "ppk3",
        "ecdsa",
        "384",
        "nistp384",
        "encrypted:   yes",
        "SHA256:",
        "ecdsa-sha2-nistp384 AAAA",
        "PuTTY",
    ):
        assert needle in result.output


def test_inspect_encrypted_pkcs8_with_passphrase_env(tmp_path: Path) -> None:
    path = copy(tmp_path, "openssl_rsa2048_enc.pkcs8")
    hidden = json.loads(run("inspect", str(path), "--json").output)
    assert hidden["algorithm"] is None and hidden["encrypted"] is True
    shown = json.loads(
        run(
            "inspect", str(path), "--json", "--passphrase-env", "GW_PP", env={"GW_PP": PASSPHRASE}
        ).output
    )
    assert shown["algorithm"] == "rsa" and shown["bits"] == 2048


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"hello world\n", "not a key"), (b"\x00\x01\x02", "not a key")],
    ids=["fail/empty", "fail/text", "fail/binary"],
)
def test_inspect_not_a_key(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x"
    path.write_bytes(content)
    result = run("inspect", str(path))
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and message in result.stderr


def test_inspect_missing_file(tmp_path: Path) -> None:
    result = run("inspect", str(tmp_path / "nope"))
    assert result.exit_code == 1 and error_lines(result)[0].startswith("error: cannot read")


# ---- convert ---------------------------------------------------------------------------


def test_convert_ppk_to_pem(tmp_path: Path) -> None:
    src = copy(tmp_path, "puttygen_rsa2048.ppk")
    out = tmp_path / "key.pem"
    result = run("convert", str(src), "--to", "pem", "-o", str(out))
    assert result.exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert detect_format(out.read_bytes()) is KeyFormat.PKCS1
    assert run("check", str(out), "--for", "jsch").exit_code == 0


def test_convert_to_public_on_stdout(tmp_path: Path) -> None:
    src = copy(tmp_path, "puttygen_ed25519_enc.ppk")  # public part is readable unencrypted
    result = run("convert", str(src), "--to", "public")
    assert result.exit_code == 0
    assert result.output == (VECTORS / "puttygen_ed25519.openssh.pub").read_text()


def test_convert_encrypted_needs_passphrase_and_keeps_it(tmp_path: Path) -> None:
    src = copy(tmp_path, "sshkeygen_ed25519_enc.openssh")
    out = tmp_path / "k.ppk"
    missing = run("convert", str(src), "--to", "ppk", "-o", str(out))
    assert missing.exit_code == 1 and len(error_lines(missing)) == 1
    assert "--passphrase-env" in missing.stderr
    wrong = run("convert", str(src), "--to", "ppk", "-o", str(out), "-P", "nope")
    assert error_lines(wrong) == ["error: wrong passphrase"]
    ok = run(
        "convert",
        str(src),
        "--to",
        "ppk",
        "-o",
        str(out),
        "--passphrase-env",
        "GW_PP",
        env={"GW_PP": PASSPHRASE},
    )
    assert ok.exit_code == 0, ok.stderr
    assert inspect_key(out.read_bytes()).encrypted  # the passphrase was kept
    load_private_key(out.read_bytes(), PASSPHRASE.encode())


def test_convert_can_remove_or_change_the_passphrase(tmp_path: Path) -> None:
    src = copy(tmp_path, "puttygen_ecdsa256_enc_v2.ppk")
    plain = tmp_path / "plain"
    assert (
        run(
            "convert", str(src), "--to", "openssh", "-o", str(plain), "-P", PASSPHRASE, "-N", ""
        ).exit_code
        == 0
    )
    assert not inspect_key(plain.read_bytes()).encrypted
    changed = tmp_path / "changed"
    assert (
        run(
            "convert",
            str(plain),
            "--to",
            "pkcs8",
            "-o",
            str(changed),
            "--new-passphrase-env",
            "GW_NEW",
            env={"GW_NEW": "other"},
        ).exit_code
        == 0
    )
    load_private_key(changed.read_bytes(), b"other")


@pytest.mark.parametrize(
    ("name", "to", "message"),
    [
        ("sshkeygen_ed25519.openssh", "pem", "no traditional PEM form"),
        ("sshkeygen_ed25519.openssh.pub", "openssh", "only a public key"),
        ("puttygen_ed448.ppk", "openssh", "no Ed448"),
    ],
    ids=lambda v: f"fail/{v}",
)
def test_convert_refusals(tmp_path: Path, name: str, to: str, message: str) -> None:
    result = run("convert", str(copy(tmp_path, name)), "--to", to, "-o", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and message in result.stderr


def test_convert_usage_error() -> None:
    assert run("convert", "x", "--to", "jks").exit_code == 2


# ---- check -----------------------------------------------------------------------------


def test_check_ok(tmp_path: Path) -> None:
    result = run("check", str(copy(tmp_path, "sshkeygen_ed25519.openssh")), "--for", "openssh")
    assert result.exit_code == 0 and result.output.startswith("ok: ")


def test_check_the_issue_examples(tmp_path: Path) -> None:
    ed = copy(tmp_path, "sshkeygen_ed25519.openssh")
    result = run("check", str(ed), "--for", "pem-only")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "error: this is an OpenSSH-format Ed25519 key; PEM-only clients need an RSA key in "
        "PEM (BEGIN RSA PRIVATE KEY): generate one with "
        "`gitward keys generate -t rsa -b 4096 --format pem -f KEY`"
    ]
    ppk = tmp_path / "KEY.ppk"
    shutil.copy(VECTORS / "puttygen_rsa2048.ppk", ppk)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        result = run("check", "KEY.ppk", "--for", "jsch")
    assert result.exit_code == 1
    assert error_lines(result)[0].startswith("error: this is a PuTTY .ppk file")
    assert error_lines(result)[0].endswith(
        ": run `gitward keys convert KEY.ppk --to pem -o KEY.pem`"
    )


def test_check_gitward_refuses_dsa(tmp_path: Path) -> None:
    result = run("check", str(copy(tmp_path, "sshkeygen_dsa.openssh")), "--for", "gitward")
    assert result.exit_code == 1 and "refuses DSA" in result.stderr


def test_check_unknown_target_is_a_usage_error(tmp_path: Path) -> None:
    result = run("check", str(copy(tmp_path, "puttygen_ed25519.ppk")), "--for", "winscp")
    assert result.exit_code == 2


# ---- prompts (stdin is a terminal) -----------------------------------------------------


def test_encrypted_key_prompts_on_a_terminal_without_echo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gitward.cli.keys._interactive", lambda: True)
    path = copy(tmp_path, "openssl_rsa2048_enc.pkcs8")
    result = CliRunner().invoke(
        keys_group,
        ["inspect", str(path), "--json"],
        input=f"{PASSPHRASE}\n",
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    assert PASSPHRASE not in result.output + result.stderr
    assert '"algorithm": "rsa"' in result.output


def test_generate_prompts_twice_for_a_new_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gitward.cli.keys._interactive", lambda: True)
    key = tmp_path / "k"
    result = CliRunner().invoke(
        keys_group,
        ["generate", "-f", str(key)],
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    assert PASSPHRASE not in result.output + result.stderr
    load_private_key(key.read_bytes(), PASSPHRASE.encode())
