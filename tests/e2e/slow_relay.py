"""A slow network for ssh's ProxyCommand: relays stdin/stdout to HOST:PORT, throttled.

    ssh -o ProxyCommand='python slow_relay.py 127.0.0.1 PORT --rate 4000000 --pause-every
    1000000 --pause 0.3' ...

Both directions are limited to ``--rate`` bytes per second and stop completely for
``--pause`` seconds after every ``--pause-every`` bytes, so each side's SSH window fills
while the other is stalled, then drains: the flow-control path that small, fast loopback
transfers never take.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable

CHUNK = 16384


class Throttle:
    def __init__(self, rate: float, pause_every: int, pause: float) -> None:
        self.rate, self.pause_every, self.pause = rate, pause_every, pause
        self.start = time.monotonic()
        self.sent = 0
        self.since_pause = 0

    def account(self, n: int) -> None:
        self.sent += n
        self.since_pause += n
        ahead = self.sent / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)
        if self.since_pause >= self.pause_every:
            self.since_pause = 0
            time.sleep(self.pause)
            self.start += self.pause  # the pause is not bandwidth to catch up with


def pump(read: Callable[[], bytes], write: Callable[[bytes], None], throttle: Throttle) -> None:
    while data := read():
        write(data)
        throttle.account(len(data))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--rate", type=float, default=4e6)
    parser.add_argument("--pause-every", type=int, default=1_000_000)
    parser.add_argument("--pause", type=float, default=0.3)
    args = parser.parse_args()
    sock = socket.create_connection((args.host, args.port))
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()

    def upstream() -> None:
        pump(
            lambda: os.read(stdin, CHUNK),
            sock.sendall,
            Throttle(args.rate, args.pause_every, args.pause),
        )
        sock.shutdown(socket.SHUT_WR)

    def write_all(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(stdout, view) :]

    up = threading.Thread(target=upstream, daemon=True)
    up.start()
    with contextlib.suppress(OSError):
        pump(lambda: sock.recv(CHUNK), write_all, Throttle(args.rate, args.pause_every, args.pause))
    os.close(stdout)


if __name__ == "__main__":
    main()
