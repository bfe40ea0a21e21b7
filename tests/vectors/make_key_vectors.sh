#!/usr/bin/env bash
# Makes the key fixtures under tests/vectors/keys/ with the real tools, so that the tests
# need none of them installed.  Run from anywhere:  bash tests/vectors/make_key_vectors.sh
# Needs: ssh-keygen (OpenSSH >= 8.0), puttygen (putty-tools >= 0.75), openssl (>= 3.0).
# Every encrypted fixture uses the passphrase in PASS below; the tests know it.
# Versions of the tools that made the committed set are written to VERSIONS.
set -euo pipefail

OUT="$(cd "$(dirname "$0")" && pwd)/keys"
PASS='correct horse'
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
passfile="$(mktemp)"
trap 'rm -f "$passfile"' EXIT
printf '%s' "$PASS" >"$passfile"

{
  ssh -V 2>&1
  puttygen --version | head -1
  openssl version
} >VERSIONS

# ---- ssh-keygen -------------------------------------------------------------------------
sk() { ssh-keygen -q "$@"; }
sk -t rsa -b 2048 -N '' -C 'rsa@ssh-keygen' -f sshkeygen_rsa2048.openssh
sk -t rsa -b 2048 -N "$PASS" -C 'rsa-enc@ssh-keygen' -f sshkeygen_rsa2048_enc.openssh
sk -t ed25519 -N '' -C 'ed25519@ssh-keygen' -f sshkeygen_ed25519.openssh
sk -t ed25519 -N "$PASS" -C 'ed25519-enc@ssh-keygen' -f sshkeygen_ed25519_enc.openssh
sk -t ed25519 -N "$PASS" -Z aes256-gcm@openssh.com -C gcm -f sshkeygen_ed25519_gcm.openssh
sk -t ed25519 -N "$PASS" -Z chacha20-poly1305@openssh.com -C chacha -f sshkeygen_ed25519_chacha.openssh
sk -t ed25519 -N "$PASS" -Z aes128-cbc -C cbc -f sshkeygen_ed25519_cbc.openssh
sk -t ed25519 -N "$PASS" -Z 3des-cbc -C 3des -f sshkeygen_ed25519_3des.openssh
for bits in 256 384 521; do
  sk -t ecdsa -b "$bits" -N '' -C "ecdsa$bits@ssh-keygen" -f "sshkeygen_ecdsa$bits.openssh"
done
sk -t ecdsa -b 256 -N "$PASS" -C 'ecdsa-enc@ssh-keygen' -f sshkeygen_ecdsa256_enc.openssh
sk -t dsa -N '' -C 'dsa@ssh-keygen' -f sshkeygen_dsa.openssh
# ssh-keygen -m PEM writes PKCS#1 for RSA and SEC1 for ECDSA; -m PKCS8 writes PKCS#8.
sk -t rsa -b 2048 -m PEM -N '' -C x -f sshkeygen_rsa2048.pkcs1
sk -t rsa -b 2048 -m PEM -N "$PASS" -C x -f sshkeygen_rsa2048_enc.pkcs1
sk -t ecdsa -b 256 -m PEM -N '' -C x -f sshkeygen_ecdsa256.sec1
sk -t rsa -b 2048 -m PKCS8 -N '' -C x -f sshkeygen_rsa2048.pkcs8
sk -t rsa -b 2048 -m PKCS8 -N "$PASS" -C x -f sshkeygen_rsa2048_enc.pkcs8
# Public key exports.
# Public key exports (each .pub beside a private key is the OpenSSH line ssh-keygen wrote).
ssh-keygen -e -m RFC4716 -f sshkeygen_rsa2048.openssh.pub >sshkeygen_rsa2048.openssh.rfc4716
ssh-keygen -e -m RFC4716 -f sshkeygen_ed25519.openssh.pub >sshkeygen_ed25519.openssh.rfc4716
ssh-keygen -e -m PKCS8 -f sshkeygen_rsa2048.openssh.pub >sshkeygen_rsa2048.openssh.spki
ssh-keygen -e -m PKCS8 -f sshkeygen_ecdsa384.openssh.pub >sshkeygen_ecdsa384.openssh.spki
ssh-keygen -e -m PEM -f sshkeygen_rsa2048.openssh.pub >sshkeygen_rsa2048.openssh.pkcs1pub
# Fingerprints as OpenSSH prints them, for every public key ssh-keygen wrote.
for pub in sshkeygen_*.pub; do
  ssh-keygen -l -f "$pub" >"${pub%.pub}.sha256.txt"
  ssh-keygen -l -E md5 -f "$pub" >"${pub%.pub}.md5.txt"
done

# ---- puttygen ---------------------------------------------------------------------------
pg() { puttygen -q --random-device /dev/urandom "$@"; }
ppk_fast='kdf=argon2id,memory=8192,passes=1'
for spec in rsa:2048 ed25519: ecdsa:256 ecdsa:384 ecdsa:521 dsa:1024 ed448:; do
  t="${spec%%:*}"; b="${spec#*:}"
  name="puttygen_${t}${b}"
  args=(-t "$t"); [ -n "$b" ] && args+=(-b "$b")
  pg "${args[@]}" -C "$t@puttygen" -o "$name.ppk" --new-passphrase /dev/null
  # puttygen refuses a conversion that changes nothing: --reencrypt / -P make it act.
  pg "$name.ppk" -O private --reencrypt --ppk-param version=2 -o "${name}_v2.ppk"
  pg "$name.ppk" -P -O private --new-passphrase "$passfile" --ppk-param "$ppk_fast" \
    -o "${name}_enc.ppk" </dev/null
  pg "$name.ppk" -P -O private --new-passphrase "$passfile" --ppk-param version=2 \
    -o "${name}_enc_v2.ppk" </dev/null
  pg "$name.ppk" -O public-openssh -o "$name.openssh.pub"
  pg "$name.ppk" -O public -o "$name.rfc4716.pub"
  pg "$name.ppk" -l -E sha256 -o "$name.sha256.txt"
  case "$t" in
    ed448) ;;  # OpenSSH has no Ed448
    *) pg "$name.ppk" -O private-openssh-new -o "$name.openssh" ;;
  esac
  case "$t" in
    rsa|dsa|ecdsa) pg "$name.ppk" -O private-openssh -o "$name.pem" ;;
  esac
done
for kdf in argon2i argon2d; do
  pg puttygen_ed25519.ppk -P -O private --new-passphrase "$passfile" \
    --ppk-param "kdf=$kdf,memory=1024,passes=2,parallelism=2" -o "puttygen_ed25519_$kdf.ppk" </dev/null
done
pg puttygen_rsa2048.ppk -O private-sshcom -o puttygen_rsa2048.sshcom
pg puttygen_dsa1024.ppk -O private-sshcom -o puttygen_dsa1024.sshcom
pg puttygen_rsa2048.ppk -P -O private-sshcom --new-passphrase "$passfile" \
  -o puttygen_rsa2048_enc.sshcom </dev/null
pg puttygen_ecdsa256.ppk -P -O private-openssh --new-passphrase "$passfile" \
  -o puttygen_ecdsa256_enc.pem </dev/null
pg puttygen_ed25519.ppk -P -O private-openssh-new --new-passphrase "$passfile" \
  -o puttygen_ed25519_enc.openssh </dev/null

# puttygen converting keys that ssh-keygen made: unencrypted .ppk is deterministic, so
# Gitward's output for the same key and comment must equal these byte for byte.
for k in rsa2048 ed25519 ecdsa256 ecdsa384 ecdsa521 dsa; do
  pg "sshkeygen_$k.openssh" -C "converted-$k" -O private -o "sshkeygen_${k}.converted.ppk"
  pg "sshkeygen_$k.openssh" -C "converted-$k" -O private --ppk-param version=2 \
    -o "sshkeygen_${k}.converted_v2.ppk"
done

# ---- openssl ----------------------------------------------------------------------------
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out openssl_rsa2048.pkcs8
openssl pkey -in openssl_rsa2048.pkcs8 -traditional -out openssl_rsa2048.pkcs1
openssl pkey -in openssl_rsa2048.pkcs8 -outform DER -out openssl_rsa2048.pkcs8.der
openssl pkey -in openssl_rsa2048.pkcs8 -pubout -out openssl_rsa2048.spki.pub
openssl rsa -in openssl_rsa2048.pkcs8 -RSAPublicKey_out -out openssl_rsa2048.pkcs1.pub 2>/dev/null
openssl pkcs8 -topk8 -in openssl_rsa2048.pkcs8 -v2 aes-256-cbc -passout "pass:$PASS" \
  -out openssl_rsa2048_enc.pkcs8
openssl pkcs8 -topk8 -in openssl_rsa2048.pkcs8 -v2 aes-128-cbc -v2prf hmacWithSHA1 \
  -passout "pass:$PASS" -out openssl_rsa2048_enc_sha1.pkcs8
openssl pkcs8 -topk8 -in openssl_rsa2048.pkcs8 -scrypt -passout "pass:$PASS" \
  -out openssl_rsa2048_enc_scrypt.pkcs8
openssl rsa -in openssl_rsa2048.pkcs8 -traditional -aes256 -passout "pass:$PASS" \
  -out openssl_rsa2048_enc.pkcs1 2>/dev/null
openssl ecparam -genkey -name prime256v1 -noout -out openssl_ecdsa256.sec1
openssl ecparam -genkey -name secp384r1 -noout -out openssl_ecdsa384.sec1
openssl ecparam -genkey -name secp521r1 -out openssl_ecdsa521_params.sec1
openssl pkcs8 -topk8 -nocrypt -in openssl_ecdsa256.sec1 -out openssl_ecdsa256.pkcs8
openssl ec -in openssl_ecdsa256.sec1 -aes256 -passout "pass:$PASS" -out openssl_ecdsa256_enc.sec1 2>/dev/null
openssl genpkey -quiet -algorithm ED25519 -out openssl_ed25519.pkcs8
openssl pkcs8 -topk8 -in openssl_ed25519.pkcs8 -v2 aes-256-cbc -passout "pass:$PASS" \
  -out openssl_ed25519_enc.pkcs8
openssl pkey -in openssl_ed25519.pkcs8 -pubout -out openssl_ed25519.spki.pub
openssl genpkey -quiet -algorithm ED448 -out openssl_ed448.pkcs8
openssl genpkey -quiet -algorithm X25519 -out openssl_x25519.pkcs8
openssl dsaparam -out dsa.params 1024 2>/dev/null
openssl gendsa -out openssl_dsa1024.pkcs8 dsa.params 2>/dev/null
openssl dsa -in openssl_dsa1024.pkcs8 -out openssl_dsa1024.pem 2>/dev/null
rm -f dsa.params
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out openssl_rsa1024.pkcs8

# Public keys of the openssl keys in OpenSSH form, by ssh-keygen, to check fingerprints.
# (ssh-keygen 9.2 cannot read an Ed25519 PKCS#8 key, so none for openssl_ed25519.)
for k in openssl_rsa2048.pkcs1 openssl_ecdsa256.sec1; do
  ssh-keygen -y -f "$k" >"$k.openssh.pub"
done
chmod 600 ./*
echo "wrote $(ls | wc -l) files to $OUT"
