#!/usr/bin/env bash
# Makes the public-key upload fixtures with OpenSSH's ssh-keygen (9.2p1 on Debian 12).
# Run from this directory: ./make_upload_vectors.sh  (the files are committed; tests need no tool)
set -euo pipefail
rm -f ./*.pub ./*_key ./*-cert.pub
ssh-keygen -q -t ed25519 -N '' -C 'alice@laptop' -f ed25519_key
ssh-keygen -q -t ecdsa -b 256 -N '' -C 'ecdsa256' -f ecdsa256_key
ssh-keygen -q -t ecdsa -b 521 -N '' -C 'ecdsa521' -f ecdsa521_key
ssh-keygen -q -t rsa -b 2048 -N '' -C 'rsa2048' -f rsa2048_key
ssh-keygen -q -t rsa -b 1024 -N '' -C 'rsa1024' -f rsa1024_key
ssh-keygen -q -t dsa -N '' -C 'dsa' -f dsa_key
ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C 'rsa-pem' -f rsa_pem_key
ssh-keygen -q -t ed25519 -N '' -C 'ca' -f ca_key
ssh-keygen -q -t ed25519 -N '' -C 'other-ca' -f other_ca_key
ssh-keygen -q -s ca_key -I alice -V +1d -O extension:login@localhost=alice ed25519_key.pub
ssh-keygen -e -f ed25519_key.pub > ed25519_rfc4716.pub
printf 'command="/bin/true",no-pty %s\n' "$(cat ed25519_key.pub)" > with_options.pub
cat ed25519_key.pub ecdsa256_key.pub > two_keys.pub
# Keep two private keys (test data, not secrets) for the "this is a private key" refusal.
rm -f ecdsa256_key ecdsa521_key rsa2048_key rsa1024_key dsa_key ca_key other_ca_key
echo "ed25519_key.pub $(ssh-keygen -lf ed25519_key.pub | cut -d" " -f2)" > fingerprints.txt
