#!/bin/sh
# Regenerate the KRL vectors with OpenSSH's ssh-keygen (made with OpenSSH 9.2p1).
# Run from this directory: sh make_krl_vectors.sh
#
#   ca.pub, other_ca.pub    two CA public keys (their private halves are not kept)
#   revoked.pub             a user key revoked by its blob
#   hashed.pub              a user key revoked by its SHA-256 hash
#   mixed.krl               ca: serials 5, 10-20, 2^64-1 and key id "bob-6"; other_ca: key id
#                           "carol-1"; revoked.pub as a key; hashed.pub as a sha256 hash
#                           (ssh-keygen writes no any-CA key ids: "requires a CA key")
#   truncated.krl           mixed.krl without its last 7 bytes (must be refused at import)
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ssh-keygen -q -t ed25519 -N '' -C 'vector CA' -f "$work/ca"
ssh-keygen -q -t ed25519 -N '' -C 'vector other CA' -f "$work/other_ca"
ssh-keygen -q -t ed25519 -N '' -C 'revoked' -f "$work/revoked"
ssh-keygen -q -t ecdsa -N '' -C 'hashed' -f "$work/hashed"
cp "$work/ca.pub" "$work/other_ca.pub" "$work/revoked.pub" "$work/hashed.pub" .
hash=$(ssh-keygen -l -E sha256 -f hashed.pub | awk '{print $2}')
cat > "$work/spec_ca" <<SPEC
serial: 5
serial: 10-20
serial: 18446744073709551615
id: bob-6
key: $(cat revoked.pub)
hash: $hash
SPEC
printf 'id: carol-1\n' > "$work/spec_other"
ssh-keygen -q -k -f mixed.krl -s ca.pub "$work/spec_ca"
ssh-keygen -q -k -u -f mixed.krl -s other_ca.pub "$work/spec_other"
size=$(wc -c < mixed.krl)
head -c $((size - 7)) mixed.krl > truncated.krl
ssh-keygen -Q -l -f mixed.krl
