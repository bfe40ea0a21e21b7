"""Capture the PROXY headers HAProxy really sends, as fixtures for tests/test_proxy_protocol.py.

    python3 tests/vectors/proxy_protocol/capture.py > tests/vectors/proxy_protocol/haproxy.json

Starts HAProxy (Debian's `haproxy`) with one frontend per case on loopback, a backend
listener here that records the first bytes of each connection, and connects through each
frontend as a client that then sends an SSH banner. Each case records the bytes received,
the client's own address and port and the frontend's, which the test expects the header
to name. The `local` case is HAProxy's own health check (`check-send-proxy`), which sends a
v2 LOCAL header.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CLIENT_DATA = b"SSH-2.0-capture\r\n"


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Recorder:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(1.0)
        data = b""
        try:
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        conn.close()
        if data:
            self.received.append(data)


CASES = {
    # name: (frontend address, server options)
    "v1_tcp4": ("127.0.0.1", "send-proxy"),
    "v1_tcp6": ("::1", "send-proxy"),
    "v2_tcp4": ("127.0.0.1", "send-proxy-v2"),
    "v2_tcp6": ("::1", "send-proxy-v2"),
    "v2_tlvs": ("127.0.0.1", "send-proxy-v2 proxy-v2-options crc32c,unique-id"),
}


def main() -> None:
    out: dict[str, object] = {"haproxy": subprocess.run(
        ["haproxy", "-v"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (host, options) in CASES.items():
            rec = Recorder()
            port = free_port(host)
            bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            cfg = Path(tmp) / f"{name}.cfg"
            cfg.write_text(
                "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n"
                "  timeout server 5s\n"
                f"frontend fe\n  bind {bind}\n  unique-id-format gitward-%[rand]\n"
                "  default_backend be\n"
                f"backend be\n  server s1 127.0.0.1:{rec.port} {options}\n"
            )
            proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)])
            try:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                for _ in range(100):
                    try:
                        client = socket.create_connection((host, port), timeout=2)
                        break
                    except OSError:
                        time.sleep(0.05)
                mine = client.getsockname()
                client.sendall(CLIENT_DATA)
                time.sleep(0.3)
                client.close()
                for _ in range(40):
                    if rec.received:
                        break
                    time.sleep(0.05)
                data = rec.received[0]
                out[name] = {
                    "bytes": data.hex(),
                    "source": [mine[0], mine[1]],
                    "destination": [host, port],
                    "client_data": CLIENT_DATA.decode(),
                    "family": "ipv6" if family == socket.AF_INET6 else "ipv4",
                }
            finally:
                proc.terminate()
                proc.wait()
        # The health check: HAProxy connects on its own and sends a v2 LOCAL header.
        rec = Recorder()
        cfg = Path(tmp) / "local.cfg"
        cfg.write_text(
            "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5s\n"
            "  timeout server 5s\n  timeout check 1s\n"
            f"frontend fe\n  bind 127.0.0.1:{free_port('127.0.0.1')}\n  default_backend be\n"
            f"backend be\n  server s1 127.0.0.1:{rec.port} send-proxy-v2 check "
            "check-send-proxy inter 200ms\n"
        )
        proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)])
        try:
            for _ in range(100):
                if rec.received:
                    break
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait()
        out["v2_local"] = {"bytes": rec.received[0].hex(), "client_data": ""}
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
