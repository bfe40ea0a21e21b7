#!/bin/sh
# Regenerate the OpenSSH certificate vectors in tests/vectors/certs with ssh-keygen.
#
# Usage: sh tests/vectors/make_cert_vectors.sh      (from the repository root)
# Made with OpenSSH 9.2. Private keys are created in a temporary directory and thrown
# away; only public keys, certificates and their fingerprints are kept. Nonces are random,
# so rerunning changes the bytes but not what tests/ca/test_ca_vectors.py checks.
set -eu

out="$(cd "$(dirname "$0")" && pwd)/certs"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$out"
rm -f "$out"/*.pub "$out"/fingerprints.txt

# Fixed times, in UTC: certificates valid for January 2026.
VALID=20260101000000Z:20260201000000Z
HOST=git.example.com

key() {  # key NAME TYPE [BITS]
    if [ $# -eq 3 ]; then
        ssh-keygen -q -t "$2" -b "$3" -N '' -C "$1" -f "$work/$1"
    else
        ssh-keygen -q -t "$2" -N '' -C "$1" -f "$work/$1"
    fi
    cp "$work/$1.pub" "$out/$1.pub"
    printf '%s %s\n' "$1" "$(ssh-keygen -l -E sha256 -f "$work/$1.pub" | cut -d' ' -f2)" \
        >> "$out/fingerprints.txt"
}

cert() {  # cert NAME CA USERKEY [ssh-keygen options...]
    name=$1; ca=$2; subject=$3; shift 3
    cp "$work/$subject.pub" "$work/$name.pub"
    ssh-keygen -q -s "$work/$ca" "$@" "$work/$name.pub"
    cp "$work/$name-cert.pub" "$out/$name-cert.pub"
}

key ca_ed25519 ed25519
key ca_rsa rsa 3072
key ca_ecdsa256 ecdsa 256
key ca_ecdsa384 ecdsa 384
key ca_ecdsa521 ecdsa 521
key user_ed25519 ed25519
key user_ecdsa256 ecdsa 256
key user_ecdsa384 ecdsa 384
key user_ecdsa521 ecdsa 521
key user_rsa rsa 2048

LOGIN="extension:login@$HOST=alice"

# Every subject key type, signed by an Ed25519 CA.
for t in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa; do
    cert "${t}_by_ed25519" ca_ed25519 "user_$t" -I "alice-$t" -n git -z 42 -V "$VALID" -O "$LOGIN"
done
# Every CA type and RSA signature algorithm, over an Ed25519 subject.
cert ed25519_by_rsa_sha512 ca_rsa user_ed25519 -t rsa-sha2-512 -I sha512 -z 1 -V "$VALID" -O "$LOGIN"
cert ed25519_by_rsa_sha256 ca_rsa user_ed25519 -t rsa-sha2-256 -I sha256 -z 2 -V "$VALID" -O "$LOGIN"
cert ed25519_by_rsa_sha1 ca_rsa user_ed25519 -t ssh-rsa -I sha1 -z 3 -V "$VALID" -O "$LOGIN"
for t in ecdsa256 ecdsa384 ecdsa521; do
    cert "ed25519_by_$t" "ca_$t" user_ed25519 -I "by-$t" -z 4 -V "$VALID" -O "$LOGIN"
done
# Options: every known critical option, extensions for several hosts, a custom extension.
cert options ca_ed25519 user_ed25519 -I options -n git,org-7 -z 18446744073709551615 \
    -V "$VALID" -O clear -O permit-pty \
    -O "force-command=git-upload-pack 'acme/app.git'" \
    -O "source-address=10.0.0.0/8,2001:db8::/32" -O verify-required \
    -O "$LOGIN" -O "extension:id@$HOST=42" -O "extension:login@other.example=bob"
# An unknown critical option (must be refused by policy, parsed by the parser).
cert unknown_critical ca_ed25519 user_ed25519 -I unknown -V "$VALID" \
    -O "critical:gitward-test@example.com=yes" -O "$LOGIN"
# No extensions at all, no principals, forever.
cert forever ca_ed25519 user_ed25519 -I forever -V always:forever -O clear
# A host certificate.
cert host ca_ed25519 user_ed25519 -h -I host -n "$HOST" -V "$VALID"
echo "vectors written to $out"
