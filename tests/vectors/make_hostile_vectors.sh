#!/usr/bin/env bash
# Makes the hostile-input fixtures under tests/vectors/hostile/ with the real tools.
# Run from anywhere:  bash tests/vectors/make_hostile_vectors.sh
# Needs: openssl (>= 3.0), ssh-keygen, python3 (standard library only, to frame the SSH blob).
#
# ECDSA public keys whose point is in compressed form (SEC1 0x02/0x03 prefix): valid SSH
# wire framing (RFC 5656 names SEC1's encoding), but OpenSSH reads only uncompressed points
# (`ssh-keygen -l -f` says "is not a public key file") and so must Gitward, with its own
# message. openssl makes the key and writes its public half in compressed form; the last
# bytes of that DER SubjectPublicKeyInfo are the point, framed here as an SSH public key.
set -euo pipefail

OUT="$(cd "$(dirname "$0")" && pwd)/hostile"
mkdir -p "$OUT"
cd "$OUT"
rm -f ecdsa*_compressed* ecdsa*_uncompressed*
openssl version >VERSIONS

for pair in prime256v1:256:33 secp384r1:384:49 secp521r1:521:67; do
  IFS=: read -r curve bits plen <<<"$pair"
  base="ecdsa${bits}"
  openssl ecparam -name "$curve" -genkey -noout -out "$base.tmp.pem"
  openssl ec -in "$base.tmp.pem" -pubout -conv_form compressed -outform DER \
    -out "${base}_compressed.spki.der" 2>/dev/null
  openssl ec -in "$base.tmp.pem" -pubout -conv_form compressed \
    -out "${base}_compressed.spki.pem" 2>/dev/null
  # The same key, uncompressed, as ssh-keygen writes it: the control case.
  openssl ec -in "$base.tmp.pem" -pubout -out "$base.tmp.pub.pem" 2>/dev/null
  ssh-keygen -i -m PKCS8 -f "$base.tmp.pub.pem" >"${base}_uncompressed.pub"
  python3 - "${base}_compressed.spki.der" "$bits" "$plen" >"${base}_compressed.pub" <<'PY'
import base64, struct, sys
der, bits, plen = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3])
point = der[-plen:]
assert point[0] in (2, 3), point[:1]
s = lambda b: struct.pack(">I", len(b)) + b
kind = f"ecdsa-sha2-nistp{bits}".encode()
blob = s(kind) + s(f"nistp{bits}".encode()) + s(point)
print(kind.decode(), base64.b64encode(blob).decode(), f"compressed{bits}@openssl")
PY
  rm -f "$base.tmp.pem" "$base.tmp.pub.pem"
done
# What ssh-keygen says about one (kept so the tests can show OpenSSH refuses it too).
ssh-keygen -l -f ecdsa256_compressed.pub >ssh-keygen-l.txt 2>&1 || true
