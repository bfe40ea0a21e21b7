"""`gitward serve --workers N` (N > 1): a supervisor process and N server processes.

The supervisor (this module) does, once and before any worker starts, what must happen
once: the migrations (``service_context`` already ran them), the sweep of stale git state,
the host keys, and reserving the SSH and HTTP ports. A port is reserved by a socket bound
with ``SO_REUSEPORT`` that never listens: the kernel hands connections only to the
workers' listening sockets on the same port, and the reservation keeps the port ours
while a worker restarts. Before reserving, a plain bind checks that no other server
(another `gitward serve`, whose sockets also allow reuse) holds the port.

Each worker is a fresh interpreter (``python -m gitward.cli.worker``), not a fork: no
thread, event loop, database connection or metric registry is inherited. It reads its
settings as one JSON line on stdin, answers one JSON line on stdout once it listens, and
keeps stdin open: when the supervisor dies, the pipe closes and the worker stops as on
SIGTERM. The supervisor then prints the banner once, restarts a worker that dies (after a
back-off when it keeps dying), and on SIGTERM or SIGINT forwards SIGTERM to every worker,
waits for their graceful stops and exits 0 when they all did.

Hooks: ``prepare_workers`` runs before the workers start (and before each restart), for
what their processes depend on (a metrics directory for multiprocess mode, for
instance); ``worker_exited`` after one has ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import structlog

from gitward import metrics
from gitward.cli import serve as serve_cli
from gitward.errors import ConfigurationError
from gitward.services.context import Context
from gitward.settings import Settings
from gitward.sshd.drain import GIT_TERM_WAIT
from gitward.sshd.host_keys import fingerprints, load_or_create_host_keys
from gitward.sshd.listener import sweep_git_state

log = structlog.get_logger("gitward.serve")

READY_TIMEOUT = 120.0  # a loaded machine takes its time to start an interpreter
# A worker that dies sooner than this after starting is restarted only after a back-off,
# doubling up to MAX_BACKOFF, so that a crash at start does not spin.
STABLE_SECONDS = 10.0
MAX_BACKOFF = 30.0


def prepare_workers(settings: Settings, workers: int, *, restart: bool = False) -> dict[str, str]:
    """Called in the supervisor after the ports are reserved and before any worker
    starts (and before each restart). Returns environment variables to add to every
    worker's environment: the Prometheus multiprocess directory, so that a scrape answered
    by any worker reports the sums over all of them (metrics.py). At start it is emptied
    (an earlier run's values would be added to this one's); a restart keeps it."""
    if restart:
        return {}
    chosen = metrics.multiprocess_dir()  # an operator's PROMETHEUS_MULTIPROC_DIR wins
    directory = Path(chosen) if chosen else (settings.data_dir / "run" / "metrics").resolve()
    metrics.prepare_multiprocess(directory)
    return {metrics.MULTIPROC_ENV: str(directory)}


def worker_exited(settings: Settings, pid: int) -> None:
    """Called in the supervisor once a worker's process has ended (and been reaped), before
    it is restarted or the supervisor exits: its live gauges stop counting."""
    metrics.mark_process_dead(pid)


def reserve_port(host: str, port: int, what: str, flag: str) -> socket.socket:
    """Bind ``host:port`` for workers to share; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))  # fails if any socket, even a reusable one, holds it
        port = int(probe.getsockname()[1])
        probe.close()
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        probe.close()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ConfigurationError(
            f"cannot listen for {what} on {host}:{port}: {reason}"
            f" (is another server running? choose another port with {flag})",
            cause=str(exc),
        ) from exc
    return sock


def settings_payload(settings: Settings) -> dict[str, Any]:
    """The settings as JSON for a worker, the CA secret included (it goes through a pipe,
    never the command line or the environment)."""
    payload = settings.model_dump(mode="json")
    if settings.ca_secret is not None:
        payload["ca_secret"] = settings.ca_secret.get_secret_value()
    return payload


@dataclass
class Worker:
    index: int
    process: subprocess.Popen[bytes]
    started: float
    ready: dict[str, Any] | None = None
    _buffer: bytes = field(default=b"", repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def read_ready(self) -> bool:
        """Consume what the worker wrote on stdout; True once its ready line is in."""
        assert self.process.stdout is not None
        chunk = os.read(self.process.stdout.fileno(), 65536)
        self._buffer += chunk
        if b"\n" in self._buffer:
            self.ready = json.loads(self._buffer.split(b"\n", 1)[0])
            self.process.stdout.close()
            return True
        if not chunk:  # it died before it was ready
            self.process.stdout.close()
            self.ready = {}
        return False


class Supervisor:
    def __init__(self, ctx: Context, count: int, env: dict[str, str]) -> None:
        self.ctx = ctx
        self.count = count
        self.env = {**os.environ, **env}
        self.payload = settings_payload(ctx.settings)
        self.workers: list[Worker | None] = [None] * count
        self.backoff = [0.0] * count
        self.restart_at: dict[int, float] = {}
        self.stopping = False

    def spawn(self, index: int) -> Worker:
        process = subprocess.Popen(
            [sys.executable, "-m", "gitward.cli.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=self.env,
            close_fds=True,
        )
        assert process.stdin is not None
        message = {"index": index, "count": self.count, "settings": self.payload}
        with contextlib.suppress(BrokenPipeError):  # it died at once: check() sees it
            process.stdin.write(json.dumps(message).encode() + b"\n")
            process.stdin.flush()  # kept open: its end of file tells the worker we are gone
        worker = Worker(index, process, time.monotonic())
        self.workers[index] = worker
        log.info("worker_started", worker=index, pid=process.pid)
        return worker

    def _pending(self) -> list[Worker]:
        return [
            w
            for w in self.workers
            if w is not None and w.ready is None and w.process.stdout is not None
        ]

    def poll_ready(self, timeout: float) -> None:
        pending = {w.process.stdout.fileno(): w for w in self._pending() if w.process.stdout}
        if not pending:
            time.sleep(timeout)
            return
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select(list(pending), [], [], timeout)
            for out in readable:
                pending[out].read_ready()

    def wait_all_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.stopping and time.monotonic() < deadline:
            workers = [w for w in self.workers if w is not None]
            if any(w.ready == {} or w.process.poll() is not None for w in workers):
                return False
            if all(w.ready for w in workers):
                return True
            self.poll_ready(0.1)
        return False

    def check(self) -> None:
        """Restart the workers that died."""
        now = time.monotonic()
        for index, worker in enumerate(self.workers):
            if worker is None or worker.process.poll() is None:
                continue
            status = worker.process.returncode
            lived = now - worker.started
            doubled = min(max(1.0, self.backoff[index] * 2), MAX_BACKOFF)
            self.backoff[index] = 0.0 if lived >= STABLE_SECONDS else doubled
            log.warning(
                "worker_exited",
                worker=index,
                pid=worker.pid,
                status=status,
                restart_in_seconds=self.backoff[index],
            )
            self._close(worker)
            worker_exited(self.ctx.settings, worker.pid)
            self.workers[index] = None
            self.restart_at[index] = now + self.backoff[index]
        for index, at in list(self.restart_at.items()):
            if at <= now:
                del self.restart_at[index]
                self.env.update(prepare_workers(self.ctx.settings, self.count, restart=True))
                self.spawn(index)

    @staticmethod
    def _close(worker: Worker) -> None:
        for pipe in (worker.process.stdin, worker.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def stop(self) -> bool:
        """SIGTERM to every worker, wait for their graceful stops; True if all exited 0."""
        live = [w for w in self.workers if w is not None]
        for worker in live:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        deadline = (
            time.monotonic() + self.ctx.settings.shutdown_grace_seconds + 2 * GIT_TERM_WAIT + 15
        )
        clean = True
        for worker in live:
            try:
                status = worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker_did_not_stop", worker=worker.index, pid=worker.pid)
                worker.process.kill()
                status = worker.process.wait()
            self._close(worker)
            worker_exited(self.ctx.settings, worker.pid)
            if status != 0:
                log.warning("worker_stopped", worker=worker.index, pid=worker.pid, status=status)
                clean = False
        return clean


def _echo_banner(ctx: Context, supervisor: Supervisor, ssh_port: int, fps: list[str]) -> None:
    first = supervisor.workers[0]
    assert first is not None and first.ready
    http_line = str(first.ready.get("http_line", ""))
    http_port = first.ready.get("http_port")
    lines = serve_cli.web_lines(ctx, int(http_port) if http_port is not None else None)
    pids = ", ".join(str(w.pid) for w in supervisor.workers if w is not None)
    workers_line = f"\n  workers        : {supervisor.count} processes (pids {pids})"
    click.echo(serve_cli.banner(ctx, ssh_port, fps, http_line, lines, workers_line))


def supervise(ctx: Context, count: int) -> int:
    """Run ``count`` workers until SIGTERM/SIGINT; the exit status of `serve`."""
    settings = ctx.settings
    sweep_git_state(ctx)
    fps = fingerprints(load_or_create_host_keys(settings.data_dir))
    ssh_sock = reserve_port(settings.ssh_host, settings.ssh_port, "SSH", "--ssh-port")
    http_sock = reserve_port(settings.http_host, settings.http_port, "HTTP", "--http-port")
    try:
        update = {
            "ssh_port": ssh_sock.getsockname()[1],
            "http_port": http_sock.getsockname()[1],
            "workers": count,
        }
        ctx = Context(ctx.engine, settings.model_copy(update=update), ctx.actor, ctx.clock)
        ctx.engine.dispose()  # the workers open their own connections
        supervisor = Supervisor(ctx, count, prepare_workers(ctx.settings, count))

        def on_signal(signum: int, frame: object) -> None:
            supervisor.stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        for index in range(count):
            supervisor.spawn(index)
        if not supervisor.wait_all_ready():
            if supervisor.stopping:
                return 0 if supervisor.stop() else 1
            supervisor.stop()
            click.echo("error: a worker did not start (see its log above)", err=True)
            return 1
        _echo_banner(ctx, supervisor, update["ssh_port"], fps)
        while not supervisor.stopping:
            supervisor.poll_ready(0.2)
            if not supervisor.stopping:
                supervisor.check()
        clean = supervisor.stop()
    finally:
        ssh_sock.close()
        http_sock.close()
    click.echo("stopped")
    return 0 if clean else 1

