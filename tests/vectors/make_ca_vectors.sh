#!/bin/sh
# Regenerate the CA vectors in tests/vectors/ca with ssh-keygen: certificates signed with
# every -V form and -O option, what `ssh-keygen -L` prints for each, and a KRL made by
# `ssh-keygen -k` from a spec covering serial:, serial: A-B, id:, key:, sha1:, sha256:
# and hash:.
#
# Usage: sh tests/vectors/make_ca_vectors.sh      (from the repository root)
# Made with OpenSSH 9.2, TZ=UTC. Private keys live in a temporary directory and are thrown
# away. Nonces and signatures are random, so rerunning changes bytes, not what
# tests/ca/test_sign_vectors.py and tests/ca/test_krl.py check. Relative -V forms are
# signed at a known moment only in the sense that the test checks the interval length.
set -eu

out="$(cd "$(dirname "$0")" && pwd)/ca"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$out"
rm -f "$out"/*.pub "$out"/*.txt "$out"/*.krl "$out"/*.spec
export TZ=UTC

key() {  # key NAME TYPE [BITS]
    if [ $# -eq 3 ]; then
        ssh-keygen -q -t "$2" -b "$3" -N '' -C "$1" -f "$work/$1"
    else
        ssh-keygen -q -t "$2" -N '' -C "$1" -f "$work/$1"
    fi
    cp "$work/$1.pub" "$out/$1.pub"
}

cert() {  # cert NAME CA SUBJECT [ssh-keygen options...]
    name=$1; ca=$2; subject=$3; shift 3
    cp "$work/$subject.pub" "$work/$name.pub"
    ssh-keygen -q -s "$work/$ca" "$@" "$work/$name.pub"
    cp "$work/$name-cert.pub" "$out/$name-cert.pub"
    # The label ssh-keygen prints is the path as given: make it the bare file name.
    (cd "$out" && ssh-keygen -L -f "$name-cert.pub" > "$name.L.txt")
    printf '%s\n' "$*" > "$out/$name.args.txt"
}

key ca_ed25519 ed25519
key ca_rsa rsa 2048
key ca_ecdsa256 ecdsa 256
key ca_ecdsa384 ecdsa 384
key ca_ecdsa521 ecdsa 521
key user_ed25519 ed25519
key user_ecdsa256 ecdsa 256
key user_rsa rsa 2048
key revoked_key ed25519
key sha1_key ed25519
key sha256_key ed25519
key hash_key ed25519

cert forever ca_ed25519 user_ed25519 -I forever
cert dates ca_rsa user_ed25519 -I dates -n alice,bob -z 17 -V 20260101:20260201
cert dates_z ca_ecdsa256 user_ecdsa256 -I dates_z -n alice -V 202601011230Z:20260201123045Z
cert hex ca_ecdsa384 user_rsa -I hex -n git -V 0x10:0x7fffffff
cert before ca_ecdsa521 user_ed25519 -I before -n git -V always:20300101
cert after ca_ed25519 user_ecdsa256 -I after -n git -V 20260101:forever
cert relative ca_ed25519 user_ed25519 -I relative -n git -V +52w1d
cert range ca_rsa user_rsa -I range -n git -V -5m:+1h30m
cert options ca_ed25519 user_ed25519 -I options -n git,org -z 18446744073709551615 \
    -V 20260101:20260201 -O clear -O force-command=git-upload-pack -O \
    source-address=10.0.0.0/8,2001:db8::/32 -O verify-required -O permit-pty \
    -O no-touch-required -O extension:login@git.example.com=alice -O critical:x@example.com
cert no_defaults ca_ed25519 user_ed25519 -I no_defaults -n git -O no-x11-forwarding \
    -O no-agent-forwarding -O no-port-forwarding -O no-pty -O no-user-rc
cert host ca_ecdsa256 user_ed25519 -I host.example.com -h -n host.example.com,10.0.0.1 \
    -V 20260101:20270101

# A KRL for ca_ed25519, serials 5, 10-20, 100 (ssh-keygen writes 5-20 as a bitmap), one
# key id, and keys revoked explicitly, by SHA-1, by SHA-256 and by fingerprint.
cat > "$work/krl.spec" <<SPEC
serial: 5
serial: 10-20
serial: 100
id: stolen laptop
key: $(cat "$work/revoked_key.pub")
sha1: $(cat "$work/sha1_key.pub")
sha256: $(cat "$work/sha256_key.pub")
hash: $(ssh-keygen -l -E sha256 -f "$work/hash_key.pub" | cut -d' ' -f2)
SPEC
ssh-keygen -q -k -f "$out/ssh-keygen.krl" -s "$work/ca_ed25519.pub" -z 42 "$work/krl.spec"
cp "$work/krl.spec" "$out/krl.spec"
