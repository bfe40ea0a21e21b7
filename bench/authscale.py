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

SCHEMA = "gwbench"  # + "_small" / "_large"
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


def pg_reset_schema(url: str, schema: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(_pg_base(url), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if not drop_only:
            conn.execute(f"CREATE SCHEMA {schema}")


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
            # What a database that grew over years would look like: statistics up to date
            # and, on SQLite, the bulk load checkpointed out of the write-ahead log (a WAL
            # holding a million freshly inserted rows slows every later read and commit).
            cur.execute(f"ANALYZE {table}")
            raw.commit()
            if not self.pg:
                cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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


def latency(ctx: Any, blob: bytes, n: int) -> list[float]:
    """``n`` timed decisions (after a short warm-up), in seconds."""
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

    for _ in range(5):
        once()
    return [once() for _ in range(n)]


def _quantiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_ms": statistics.median(s) * 1000,
            "p99_ms": s[min(len(s) - 1, int(len(s) * 0.99))] * 1000}  # fmt: skip


def _blob(pub: Path) -> bytes:
    return base64.b64decode(pub.read_text().split()[1])


class Store:
    """One Gitward data directory and database: alice with her two keys, acme, its CA,
    acme/small; ``bulk`` fills it up."""

    def __init__(self, name: str, base: Path, url: str | None, ids: data.Identities,
                 small: Path, bulk_users: int) -> None:  # fmt: skip
        from gitward.services import accounts, authorities, orgs, repositories
        from gitward.services.context import open_context
        from gitward.settings import Settings

        self.name, self.url = name, url
        self.data_dir = base / name / "data"
        shutil.rmtree(base / name, ignore_errors=True)
        settings = Settings(data_dir=self.data_dir, hostname=HOSTNAME, database_url=url)
        self.ctx = open_context(settings)
        accounts.create_user(self.ctx, "alice")
        for key in (ids.ed25519, ids.rsa):
            accounts.add_key(self.ctx, "alice", Path(f"{key}.pub").read_bytes())
        orgs.create_org(self.ctx, "acme")
        orgs.add_member(self.ctx, "acme", "alice", "owner")
        authorities.add_ca(self.ctx, Path(f"{ids.ca}.pub").read_bytes(), org="acme")
        repositories.create_repo(self.ctx, "acme/small")
        data.install_repo(small, self.data_dir / "repos" / "acme" / "small.git")
        self.bulk = Bulk(self.ctx)
        self.user_ids = self.bulk.users(bulk_users)
        self.bulk.keys(0, 8, self.user_ids)  # with alice's two: 10 registered keys
        self.keys, self.cas = 10, 1

    def server(self) -> GitwardServer:
        env = {"GITWARD_DATABASE_URL": self.url} if self.url else {}
        return GitwardServer(f"gitward-{self.name}", data_dir=self.data_dir, env_extra=env)

    def close(self) -> None:
        self.ctx.engine.dispose()


def compare(stores: list[Store], ids: data.Identities, rounds: int, n_lat: int,
            conns: int, reps: int, home: Path) -> dict[str, Any]:  # fmt: skip
    """Latency and connection rates, alternating between the stores.

    Decisions are taken in short batches that alternate between the stores (and flip order
    every round), and all of a store's samples are pooled: both stores see the same noise.
    Each figure is the pooled quantile, with the lowest and highest per-round quantile
    beside it."""
    blobs = {"key": _blob(Path(f"{ids.ed25519}.pub")), "cert": _blob(ids.cert)}
    pooled: dict[str, dict[str, list[float]]] = {
        st.name: {kind: [] for kind in blobs} for st in stores
    }
    batches: dict[str, dict[str, list[dict[str, float]]]] = {
        st.name: {kind: [] for kind in blobs} for st in stores
    }
    for r in range(rounds):
        for st in stores if r % 2 == 0 else list(reversed(stores)):
            for kind, blob in blobs.items():
                samples = latency(st.ctx, blob, n_lat)
                pooled[st.name][kind] += samples
                batches[st.name][kind].append(_quantiles(samples))
    out: dict[str, Any] = {}
    for st in stores:
        out[st.name] = {"keys": st.keys, "cas": st.cas}
        for kind in blobs:
            whole = _quantiles(pooled[st.name][kind])
            b = batches[st.name][kind]
            out[st.name][f"{kind}_latency"] = {
                q: {"median": whole[q], "min": min(x[q] for x in b), "max": max(x[q] for x in b),
                    "n": len(pooled[st.name][kind])}
                for q in ("p50_ms", "p99_ms")
            }  # fmt: skip
    servers = [st.server() for st in stores]
    try:
        for srv in servers:
            srv.start()
        home.mkdir(parents=True, exist_ok=True)
        (home / "known_hosts").write_text("".join(s.known_hosts_lines() for s in servers))
        clients = {"ed25519": Client(home, ids.ed25519),
                   "cert": Client(home, ids.cert_key, ids.cert)}  # fmt: skip
        rates = measure.connection_rates(servers, clients, "acme/small", conns, reps)
    finally:
        for srv in servers:
            srv.stop()
    for st, srv in zip(stores, servers, strict=True):
        out[st.name]["e2e"] = {ident: v[srv.name] for ident, v in rates.items()}
    return out


def run(args: argparse.Namespace, run_dir: Path, ids: data.Identities, small: Path) -> dict:
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    pg_problem = pg_available(args.postgres_url)
    if pg_problem is None:
        backends.append(("postgresql", args.postgres_url))
    else:
        print("  PostgreSQL skipped:", pg_problem)
    n_lat = 50 if args.quick else 100
    rounds = 2 if args.quick else 10
    e2e_reps = 2
    out: dict[str, Any] = {
        "skipped_postgresql": pg_problem,
        "latency_samples": n_lat,
        "latency_rounds": rounds,
        "e2e_connections": args.conns * e2e_reps,
    }
    for backend, pg_url in backends:
        base = run_dir / f"auth-{backend}"
        stores: list[Store] = []
        urls: dict[str, str | None] = {"small": None, "large": None}
        if pg_url:
            sep = "&" if "?" in pg_url else "?"
            for name in urls:
                pg_reset_schema(pg_url, f"{SCHEMA}_{name}")
                urls[name] = f"{pg_url}{sep}options=-csearch_path%3D{SCHEMA}_{name}"
        try:
            users = 10 if args.quick else 10_000
            stores = [Store(name, base, urls[name], ids, small, users) for name in urls]
            data.sign_certificate(ids)  # after alice exists in both stores
            _small, large = stores
            t0 = time.perf_counter()
            large.bulk.keys(8, args.keys - 2, large.user_ids)
            large.keys = args.keys
            print(f"  {backend}: {args.keys:,} keys inserted in {time.perf_counter() - t0:.1f} s")
            stages: dict[str, Any] = {}
            stages["keys"] = compare(stores, ids, rounds, n_lat, args.conns, e2e_reps,
                                     base / "client")  # fmt: skip
            t0 = time.perf_counter()
            large.bulk.cas(args.cas - 1)
            large.cas = args.cas
            print(f"  {backend}: {args.cas:,} CAs inserted in {time.perf_counter() - t0:.1f} s")
            stages["cas"] = compare(stores, ids, rounds, n_lat, args.conns, e2e_reps,
                                    base / "client")  # fmt: skip
            for stage, v in stages.items():
                for name in ("small", "large"):
                    k = v[name]["key_latency"]
                    c = v[name]["cert_latency"]
                    print(
                        f"  {backend} {stage} {name} ({v[name]['keys']:,} keys, "
                        f"{v[name]['cas']:,} CAs): key p50 {k['p50_ms']['median']:.2f} "
                        f"p99 {k['p99_ms']['median']:.2f} ms; cert p50 "
                        f"{c['p50_ms']['median']:.2f} p99 {c['p99_ms']['median']:.2f} ms"
                    )
            out[backend] = stages
        finally:
            for st in stores:
                st.close()
            if pg_url:
                for name in urls:
                    pg_reset_schema(pg_url, f"{SCHEMA}_{name}", drop_only=True)
    return out
