"""Authentication at scale: 10 and 1,000,000 registered keys, then 10,000 CAs, on SQLite
and PostgreSQL. For each stage: the authentication decision's latency in process
(``services.ssh_access.authenticate``, a signed attempt, as the server makes it) and the
end-to-end rate of sequential ``git ls-remote`` against a ``gitward serve`` on that
database.

Rows that never log in are inserted in bulk (executemany on SQLite, COPY on PostgreSQL)
with synthetic but well-formed Ed25519 public keys and their real fingerprints; the keys
and the CA that do log in are added through the services like any administrator would.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import data, measure
from bench.servers import HOSTNAME, Client, GitwardServer

SCHEMA = "gwbench"
BATCH = 50_000


def _string(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


def synthetic_key(tag: bytes) -> tuple[str, str]:
    """(fingerprint, OpenSSH line) of a well-formed Ed25519 public key derived from ``tag``."""
    blob = _string(b"ssh-ed25519") + _string(hashlib.sha256(tag).digest())
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return fp, "ssh-ed25519 " + base64.b64encode(blob).decode()


def _pg_base(url: str) -> str:
    return url.split("?", 1)[0]


def pg_available(url: str) -> str | None:
    if not url:
        return "no PostgreSQL URL given"
    try:
        import psycopg

        with psycopg.connect(_pg_base(url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: skip PostgreSQL, say why
        return f"{type(exc).__name__}: {exc}"
    return None


def pg_reset_schema(url: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(_pg_base(url), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        if not drop_only:
            conn.execute(f"CREATE SCHEMA {SCHEMA}")


class Bulk:
    """Bulk inserts through the engine's raw DB-API connection."""

    def __init__(self, ctx: Any) -> None:
        self.engine = ctx.engine
        self.pg = self.engine.dialect.name == "postgresql"
        self.now = dt.datetime.now(dt.UTC)

    def _stamp(self) -> str:
        if self.pg:
            return self.now.isoformat()
        return self.now.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite format

    def _insert(self, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
        count = 0
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            batch: list[tuple[Any, ...]] = []

            def flush() -> None:
                if not batch:
                    return
                if self.pg:
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in batch:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" for _ in columns)
                    cur.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch
                    )
                batch.clear()

            for row in rows:
                batch.append(row)
                count += 1
                if len(batch) >= BATCH:
                    flush()
            flush()
            raw.commit()
            if self.pg:
                cur.execute(f"ANALYZE {table}")
                raw.commit()
        finally:
            raw.close()
        return count

    def ids(self, sql: str) -> list[int]:
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(sql)
            return [int(r[0]) for r in cur.fetchall()]
        finally:
            raw.close()

    def users(self, n: int) -> list[int]:
        stamp = self._stamp()
        false = False if self.pg else 0
        self._insert(
            "users",
            ["username", "created_at", "suspended", "site_admin"],
            ((f"bulk{i:06d}", stamp, false, false) for i in range(n)),
        )
        return self.ids("SELECT id FROM users WHERE username LIKE 'bulk%' ORDER BY id")

    def keys(self, start: int, stop: int, user_ids: list[int]) -> int:
        stamp = self._stamp()
        true = True if self.pg else 1

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(start, stop):
                fp, line = synthetic_key(b"key%d" % i)
                yield (fp, "ssh-ed25519", line, f"bulk key {i}",
                       user_ids[i % len(user_ids)], true, stamp)  # fmt: skip

        return self._insert(
            "ssh_keys",
            ["fingerprint", "key_type", "public_key", "title", "user_id", "read_only",
             "created_at"],
            rows(),
        )  # fmt: skip

    def cas(self, n: int) -> int:
        stamp = self._stamp()
        false = False if self.pg else 0
        orgs = max(1, n // 100)
        self._insert(
            "organizations",
            ["name", "require_ssh_certificates", "created_at"],
            ((f"bulkorg{i:05d}", false, stamp) for i in range(orgs)),
        )
        org_ids = self.ids("SELECT id FROM organizations WHERE name LIKE 'bulkorg%' ORDER BY id")

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(n):
                fp, line = synthetic_key(b"ca%d" % i)
                yield (fp, "ssh-ed25519", line, f"bulk CA {i}", org_ids[i % len(org_ids)], stamp)

        return self._insert(
            "certificate_authorities",
            ["fingerprint", "key_type", "public_key", "title", "organization_id", "created_at"],
            rows(),
        )


def latency(ctx: Any, blob: bytes, n: int) -> dict[str, float]:
    from gitward.services import ssh_access

    def once() -> float:
        t0 = time.perf_counter()
        result = ssh_access.authenticate(
            ctx, ssh_username="git", key_blob=blob, peer="127.0.0.1", signed=True
        )
        took = time.perf_counter() - t0
        if not result.accepted or result.credential is None:
            raise RuntimeError(f"authentication refused: {result.decision}")
        return took

    for _ in range(max(20, n // 20)):
        once()
    samples = sorted(once() for _ in range(n))
    return {
        "p50_ms": statistics.median(samples) * 1000,
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000,
        "mean_ms": statistics.fmean(samples) * 1000,
        "n": n,
    }


def _blob(pub: Path) -> bytes:
    return base64.b64decode(pub.read_text().split()[1])


def run(args: argparse.Namespace, run_dir: Path, ids: data.Identities, small: Path) -> dict:
    from gitward.services import accounts, authorities, orgs, repositories
    from gitward.services.context import open_context
    from gitward.settings import Settings

    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    pg_problem = pg_available(args.postgres_url)
    if pg_problem is None:
        sep = "&" if "?" in args.postgres_url else "?"
        backends.append(
            ("postgresql", f"{args.postgres_url}{sep}options=-csearch_path%3D{SCHEMA}")
        )
    else:
        print("  PostgreSQL skipped:", pg_problem)
    n_lat = 200 if args.quick else 1000
    e2e_reps = min(args.reps, 3)
    out: dict[str, Any] = {"skipped_postgresql": pg_problem, "latency_samples": n_lat,
                           "e2e_connections": args.conns * e2e_reps}  # fmt: skip
    for backend, url in backends:
        base = run_dir / f"auth-{backend}"
        shutil.rmtree(base, ignore_errors=True)
        data_dir = base / "data"
        if url:
            pg_reset_schema(url)
        settings = Settings(data_dir=data_dir, hostname=HOSTNAME, database_url=url)
        ctx = open_context(settings)
        stages: dict[str, Any] = {}
        try:
            accounts.create_user(ctx, "alice")
            data.sign_certificate(ids)
            for key in (ids.ed25519, ids.rsa):
                accounts.add_key(ctx, "alice", Path(f"{key}.pub").read_bytes())
            orgs.create_org(ctx, "acme")
            orgs.add_member(ctx, "acme", "alice", "owner")
            authorities.add_ca(ctx, Path(f"{ids.ca}.pub").read_bytes(), org="acme")
            repositories.create_repo(ctx, "acme/small")
            data.install_repo(small, data_dir / "repos" / "acme" / "small.git")
            bulk = Bulk(ctx)
            user_ids = bulk.users(10 if args.quick else 10_000)
            bulk.keys(0, 8, user_ids)  # with alice's two: 10 registered keys
            key_blob, cert_blob = _blob(Path(f"{ids.ed25519}.pub")), _blob(ids.cert)
            env = {"GITWARD_DATABASE_URL": url} if url else {}
            plan = [("10 keys", None), (f"{args.keys:,} keys", "keys"),
                    (f"{args.keys:,} keys + {args.cas:,} CAs", "cas")]  # fmt: skip
            for label, grow in plan:
                if grow == "keys":
                    t0 = time.perf_counter()
                    bulk.keys(8, args.keys - 2, user_ids)
                    print(f"  {backend}: {args.keys:,} keys inserted in "
                          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
                elif grow == "cas":
                    t0 = time.perf_counter()
                    bulk.cas(args.cas - 1)
                    print(f"  {backend}: {args.cas:,} CAs inserted in "
                          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
                stage: dict[str, Any] = {
                    "key_latency": latency(ctx, key_blob, n_lat),
                    "cert_latency": latency(ctx, cert_blob, n_lat),
                }
                server = GitwardServer(f"gitward-{backend}", data_dir=data_dir, env_extra=env)
                try:
                    server.start()
                    home = base / "client"
                    home.mkdir(exist_ok=True)
                    (home / "known_hosts").write_text(server.known_hosts_lines())
                    clients = {"ed25519": Client(home, ids.ed25519),
                               "cert": Client(home, ids.cert_key, ids.cert)}  # fmt: skip
                    stage["e2e"] = measure.connection_rates(
                        [server], clients, "acme/small", args.conns, e2e_reps
                    )
                finally:
                    server.stop()
                stages[label] = stage
                k, c = stage["key_latency"], stage["cert_latency"]
                print(f"  {backend} {label}: key p50 {k['p50_ms']:.2f} ms p99 {k['p99_ms']:.2f} "
                      f"ms; cert p50 {c['p50_ms']:.2f} ms p99 {c['p99_ms']:.2f} ms")  # fmt: skip
        finally:
            ctx.engine.dispose()
            if url:
                pg_reset_schema(url, drop_only=True)
        out[backend] = stages
    return out
