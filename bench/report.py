"""bench/results.json -> bench/RESULTS.md and bench/clone-concurrency.png.

The figures and tables are generated; the analysis (profiles, what was changed, before and
after) is bench/ANALYSIS.md, included as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLOT = "clone-concurrency.png"


def _m(s: dict[str, float], fmt: str = "{:.1f}") -> str:
    """median (min-max)"""
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


def _ok(flag: bool | None) -> str:
    return "n/a" if flag is None else ("**met**" if flag else "**missed**")


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def plot(results: dict[str, Any], path: Path) -> bool:
    conc = results.get("concurrency")
    if not conc:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    levels = sorted(int(k) for k in conc)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, color in (("gitward", "tab:blue"), ("openssh", "tab:orange")):
        label = "Gitward" if name == "gitward" else "OpenSSH sshd + git-shell"
        thr = [conc[str(n)][name]["mb_per_s"] for n in levels]
        cpu = [conc[str(n)][name]["cpu_s"] for n in levels]
        for ax, series in ((ax1, thr), (ax2, cpu)):
            med = [s["median"] for s in series]
            err = [
                [s["median"] - s["min"] for s in series],
                [s["max"] - s["median"] for s in series],
            ]
            ax.errorbar(levels, med, yerr=err, marker="o", capsize=3, label=label, color=color)
    small = results.get("repos", {}).get("small_pack_bytes", 0) / 1e6
    ax1.set_title(f"Clone throughput ({small:.1f} MB repository, all clones)")
    ax1.set_ylabel("MB/s received by all clients")
    ax2.set_title("Server CPU for the whole run (SSH + git)")
    ax2.set_ylabel("CPU seconds")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xticks(levels)
        ax.set_xticklabels([str(n) for n in levels])
        ax.set_xlabel("simultaneous clones")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def targets(r: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for ident, v in r.get("rate", {}).items():
        g, o = v["gitward"]["conns_per_s"]["median"], v["openssh"]["conns_per_s"]["median"]
        rows.append(
            [
                f"connection rate, {ident}",
                f"{g:.1f} conn/s",
                f"{o:.1f} conn/s",
                f"{g / o:.2f}x",
                ">= 1.5x",
                _ok(g / o >= 1.5),
            ]
        )
    for label, v in r.get("clone", {}).items():
        g, o = v["gitward"], v["openssh"]
        tr = g["mb_per_s"]["median"] / o["mb_per_s"]["median"]
        rows.append(
            [
                f"clone throughput, {label} ({g['cipher'].split()[0]})",
                f"{g['mb_per_s']['median']:.0f} MB/s",
                f"{o['mb_per_s']['median']:.0f} MB/s",
                f"{tr:.2f}x",
                ">= 1.0x",
                _ok(tr >= 1.0),
            ]
        )
        cr = g["cpu_s_per_gb"]["median"] / o["cpu_s_per_gb"]["median"]
        rows.append(
            [
                f"server CPU per GB sent, {label}",
                f"{g['cpu_s_per_gb']['median']:.1f} s",
                f"{o['cpu_s_per_gb']['median']:.1f} s",
                f"{cr:.2f}x",
                "<= 1.5x",
                _ok(cr <= 1.5),
            ]
        )
    conc = r.get("concurrency", {})
    if "200" in conc:
        g, o = conc["200"]["gitward"], conc["200"]["openssh"]
        rows.append(
            [
                "failures at 200 concurrent clones",
                str(sum(g["failures"])),
                str(sum(o["failures"])),
                "",
                "0",
                _ok(sum(g["failures"]) == 0),
            ]
        )
    rows += push_targets(r.get("push", {}))
    soak = r.get("soak")
    if soak:
        bad = soak["failures"] + len(soak["fsck_failures"]) + soak["server_log_tracebacks"]
        rows.append(
            [
                f"transfer soak: failures in {soak['transfers']:,} transfers",
                str(bad),
                "",
                "",
                "0",
                _ok(bad == 0),
            ]
        )
    auth = r.get("auth", {})
    for backend in ("sqlite", "postgresql"):
        stages = auth.get(backend)
        if not stages:
            continue
        for stage, kind in (("keys", "key"), ("cas", "cert")):
            small, large = stages[stage]["small"], stages[stage]["large"]
            for q in ("p50_ms", "p99_ms"):
                a, b = small[f"{kind}_latency"][q]["median"], large[f"{kind}_latency"][q]["median"]
                label = (
                    f"{large['keys']:,} keys"
                    if stage == "keys"
                    else f"{large['keys']:,} keys + {large['cas']:,} CAs, certificate"
                )
                rows.append(
                    [
                        f"auth latency {q[:3]}, {backend}: {label} vs 10 keys",  # pooled
                        f"{b:.2f} ms",
                        f"{a:.2f} ms (10 keys, 1 CA)",
                        f"{b / a:.2f}x",
                        "<= 1.2x",
                        _ok(b / a <= 1.2),
                    ]
                )
    issue = r.get("issue", {})
    for conc_level, v in issue.get("http", {}).items():
        rate = v["per_s"]["median"]
        kg = issue.get("ssh_keygen", {}).get(conc_level, {}).get("per_s", {}).get("median")
        rows.append(
            [
                f"certificates issued per second, HTTP c={conc_level}",
                f"{rate:.0f}/s",
                f"ssh-keygen -s: {kg:.0f}/s" if kg else "",
                f"{rate / kg:.2f}x" if kg else "",
                ">= 1000/s",
                _ok(rate >= 1000),
            ]
        )
    # bench/issuing_steps.py: this branch's newest interleaved after-runs at concurrency 16
    # per database (issue 11), the median of their rounds.
    import statistics

    runs = r.get("issuing_steps", {}).get("runs", [])
    afters = [x for x in runs if x["label"].endswith("after(branch)") and x["concurrency"] == 16]
    newest = afters[-1]["label"] if afters else None
    for db in ("sqlite", "postgresql"):
        mine = [x for x in afters if x["db"] == db and x["label"] == newest]
        if not mine:
            continue
        rate = statistics.median(x["per_s_median"] for x in mine)
        p99 = statistics.median(x["p99_ms_median"] for x in mine)
        conc = mine[-1]["concurrency"]
        when = f"{len(mine)} rounds, {mine[-1]['at'][:10]}"
        rows += [
            [
                f"certificates issued per second, HTTP c={conc}, {db} (step by step, {when})",
                f"{rate:.0f}/s",
                "",
                "",
                ">= 1000/s",
                _ok(rate >= 1000),
            ],
            [f"issuing p99 at c={conc}, {db}", f"{p99:.0f} ms", "", "", "< 50 ms", _ok(p99 < 50)],
        ]
    return rows


def push_targets(push: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for label, v in push.get("big", {}).items():
        g, o = v["gitward"], v["openssh"]
        tr = g["mb_per_s"]["median"] / o["mb_per_s"]["median"]
        cr = g["cpu_s_per_gb"]["median"] / o["cpu_s_per_gb"]["median"]
        rows += [
            [
                f"push throughput, {label}",
                f"{g['mb_per_s']['median']:.0f} MB/s",
                f"{o['mb_per_s']['median']:.0f} MB/s",
                f"{tr:.2f}x",
                ">= 1.0x",
                _ok(tr >= 1.0),
            ],
            [
                f"server CPU per GB received, {label}",
                f"{g['cpu_s_per_gb']['median']:.1f} s",
                f"{o['cpu_s_per_gb']['median']:.1f} s",
                f"{cr:.2f}x",
                "<= 1.5x",
                _ok(cr <= 1.5),
            ],
            [
                f"failed large pushes, {label}",
                str(g["failures"]),
                str(o["failures"]),
                "",
                "0",
                _ok(g["failures"] == 0),
            ],
        ]
    sizes = push.get("sizes", {})
    for key, what in (("sequential", "sequential"), ("simultaneous", "simultaneous")):
        runs = push.get(key)
        if not runs:
            continue
        g = sum(int(x["failures"]) for x in runs["gitward"])
        o = sum(int(x["failures"]) for x in runs["openssh"])
        total = sum(int(x["pushes"]) for x in runs["gitward"])
        rows.append(
            [
                f"failures in {sizes.get(key, '?')} {what} pushes (x{len(runs['gitward'])})",
                f"{g} of {total}",
                f"{o} of {total}",
                "",
                "0",
                _ok(g == 0),
            ]
        )
    return rows


def push_section(push: dict[str, Any]) -> list[str]:
    rows = []
    for label, v in push.get("big", {}).items():
        for name in ("gitward", "openssh"):
            x = v[name]
            rows.append(
                [
                    label,
                    name,
                    f"{x['bytes'] / 1e6:.0f} MB",
                    _m(x["mb_per_s"], "{:.0f}"),
                    _m(x["cpu_s_per_gb"]),
                    _m(x["own_cpu_s_per_gb"]),
                    _m(x["children_cpu_s_per_gb"]),
                    str(x["failures"]),
                ]
            )
    seq_rows = []
    for key in ("sequential", "simultaneous"):
        for name, runs in push.get(key, {}).items():
            for i, x in enumerate(runs):
                rate = (
                    f"{x['pushes_per_s']:.1f} pushes/s, {x['cpu_ms_per_push']:.0f} ms CPU each"
                    if key == "sequential"
                    else f"{x['seconds']:.2f} s, CPU {x['cpu_s']:.1f} s, "
                    f"peak RSS {x['peak_rss_mb']:.0f} MB"
                )
                seq_rows.append([key, name, str(i), str(x["pushes"]), rate, str(x["failures"])])
    return [
        "## Push\n",
        "Each push goes into a fresh repository with Gitward's repository configuration on "
        "both servers (`receive.fsckObjects` included), from a local copy of the clone "
        "repository (`git push` of its main branch; the client reuses its pack). CPU as for "
        "the clone: the SSH layer, then the git it ran (receive-pack, index-pack). A push "
        "fails unless git exits 0 and the server's ref is the commit pushed.\n",
        _table(
            [
                "cipher setting",
                "server",
                "pack",
                "MB/s",
                "CPU s/GB total",
                "SSH layer s/GB",
                "git s/GB",
                "failures",
            ],
            rows,
        ),
        "Sequential: new commits of a 4 KiB file pushed one after another onto one branch. "
        "Simultaneous: that many pushes at once, each 1 MB in 120 files (index-pack), each "
        "into its own repository.\n",
        _table(["pushes", "server", "repetition", "count", "figures", "failures"], seq_rows),
    ]


def soak_section(soak: dict[str, Any]) -> list[str]:
    shapes = ", ".join(f"{k} {v}" for k, v in sorted(soak["by_shape"].items()))
    return [
        "## Transfer soak\n",
        "`.venv/bin/python -m bench.soak` (bench/soak.py; its own `gitward serve` on the "
        "default settings, SQLite): rounds of `--parallel` simultaneous pushes of mixed "
        "shapes onto growing histories, each followed by a fetch (or, one time in five, a "
        "fresh clone) checked against the server's branches; `git fsck --full` of every "
        "repository and a read of the server's log at the end.\n",
        _table(
            ["", ""],
            [
                ["run", f"{soak['date']}, arguments: {soak['command']}"],
                [
                    "rounds x parallel (repositories)",
                    f"{soak['rounds']} x {soak['parallel']} ({soak['repos']})",
                ],
                ["wall time", f"{soak['seconds']:.0f} s"],
                [
                    "transfers",
                    f"{soak['transfers']:,}: {soak['pushes']:,} pushes, "
                    f"{soak['fetches']:,} fetches, {soak['clones']:,} clones",
                ],
                ["pushed", f"{soak['gb_pushed']:.2f} GB; pushes by shape: {shapes}"],
                ["failed transfers", str(soak["failures"])],
                ["repositories failing fsck", str(len(soak["fsck_failures"]))],
                ["tracebacks in the server's log", str(soak["server_log_tracebacks"])],
                ["load average at the end", " ".join(soak["loadavg_at_end"])],
            ],
        ),
    ]


def _runs_table(r: dict[str, Any]) -> str:
    runs = r.get("phase_runs")
    if not isinstance(runs, dict):  # results from before phases were recorded one by one
        m = r["machine"]
        runs = {
            name: {"date": m["date"], "loadavg_at_start": m["loadavg_at_start"],
                   "loadavg_at_end": r.get("loadavg_at_end", []), "seconds": secs}
            for name, secs in r.get("phase_seconds", {}).items()
        }  # fmt: skip
    rows = [
        [name, run.get("date") or "?", f"{run.get('seconds', 0):.0f} s",
         f"{' '.join(run.get('loadavg_at_start') or [])} / "
         f"{' '.join(run.get('loadavg_at_end') or [])}"]
        for name, run in sorted(runs.items(), key=lambda kv: (kv[1].get("date") or "", kv[0]))
    ]  # fmt: skip
    return _table(["phase", "measured", "took", "load average before / after"], rows)


def workers_section(w: dict[str, Any]) -> list[str]:
    """bench/workers.py's figures (issue 11): simultaneous clones at N gitward workers
    against OpenSSH, from bench/workers.json (its own run, with its date and load)."""
    run = w.get("run", {})
    rows: list[list[str]] = []
    verdicts: list[list[str]] = []
    for level, by_server in w["levels"].items():
        ssh = by_server.get("openssh")
        for name, x in by_server.items():
            ratio = (
                f"{x['seconds']['median'] / ssh['seconds']['median']:.2f}x"
                if ssh and name != "openssh"
                else ""
            )
            rows.append(
                [
                    level,
                    name,
                    _m(x["seconds"], "{:.2f}"),
                    ratio,
                    "/".join(str(f) for f in x["failures"]),
                    _m(x["cpu_s"], "{:.2f}"),
                    _m(x["ssh_layer_cpu_s"], "{:.2f}") if "ssh_layer_cpu_s" in x else "",
                    _m(x["git_cpu_s"], "{:.2f}") if "git_cpu_s" in x else "",
                    _m(x["cpu_s_per_gb"], "{:.1f}"),
                    _m(x["gb_sent"], "{:.2f}"),
                    _m(x["peak_rss_mb"], "{:.0f}"),
                ]
            )
            if ssh and name != "openssh":
                ok = x["seconds"]["median"] <= 0.5 * ssh["seconds"]["median"] and not any(
                    x["failures"]
                )
                verdicts.append(
                    [
                        f"{level} clones, {name}: at most 0.5x OpenSSH's time, 0 failures",
                        f"{x['seconds']['median'] / ssh['seconds']['median']:.2f}x, "
                        f"{sum(x['failures'])} failures",
                        _ok(ok),
                    ]
                )
    return [
        "## Simultaneous clones at N workers (`serve --workers`)\n",
        f"Measured {run.get('date', '?')}, load average before / after "
        f"{' '.join(run.get('loadavg_at_start', []))} / "
        f"{' '.join(run.get('loadavg_at_end', []))} (the machine is shared: other sessions "
        "ran their own tests and benchmarks meanwhile). The small repository, cloned "
        "`--no-checkout` by that many `git clone` processes started at once, each server in "
        "turn, alternating the order; medians of "
        f"{w.get('reps', '?')} repetitions. Server CPU: the whole process tree (sshd's "
        "per-connection processes; Gitward's supervisor, workers and git), per GB the "
        "clients received. The 200 clients run on the same two cores as the servers. "
        "Run: `./bench/run --only workers` (figures in bench/workers.json).\n",
        _table(
            [
                "clones",
                "server",
                "wall s",
                "vs OpenSSH",
                "failures",
                "server CPU s",
                "SSH layer s",
                "git s",
                "CPU s/GB",
                "GB sent",
                "peak RSS MB",
            ],
            rows,
        ),
        _table(["target", "measured", "met"], verdicts),
        *([w["notes"] + "\n"] if w.get("notes") else []),
    ]


def _load(phase: dict[str, Any]) -> str:
    return f"{' '.join(phase['loadavg_start'])} / {' '.join(phase['loadavg_end'])}"


def connector_section(c: dict[str, Any]) -> list[str]:
    """bench/connector.py's figures (issue 10), each phase with its date and load."""
    m = c["machine"]
    rows: list[list[str]] = []
    details: list[list[str]] = []
    if "index" in c:
        f = c["index"]["figures"]
        for label in ("small", "large"):
            x = f[label]
            details.append([
                f"first index, {x['commits']:,} commits",
                f"{_m(x['index_s'], '{:.2f}')} s",
                f"{_m(x['git_log_s'], '{:.2f}')} s",
                f"{x['ratio']:.2f}x",
                f"{_m(x['peak_rss_mb'], '{:.0f}')} MB",
                f"{c['index']['date']}; load {_load(c['index'])}",
            ])
        big = f["large"]
        rows.append([f"first index of {big['commits']:,} commits vs `git log` of the same fields",
                     f"{big['ratio']:.2f}x", "<= 2x", _ok(big["ratio"] <= 2.0)])
        growth = big["peak_rss_mb"]["median"] / f["small"]["peak_rss_mb"]["median"]
        rows.append([f"peak RSS at {big['commits']:,} vs {f['small']['commits']:,} commits "
                     "(bounded memory)", f"{growth:.2f}x", "bounded (well under 4x)",
                     _ok(growth < 2.0)])
    if "sync" in c:
        s = c["sync"]["figures"]
        details.append([
            f"incremental sync, {s['repositories']} repositories x 1 new commit, "
            f"concurrency {s['parallel']}",
            f"{_m(s['connector_sync_s'], '{:.2f}')} s",
            f"{_m(s['git_fetch_s'], '{:.2f}')} s (plain `git fetch`)",
            f"{s['ratio']:.2f}x", "", f"{c['sync']['date']}; load {_load(c['sync'])}",
        ])
        rows.append([f"incremental sync of {s['repositories']} repositories vs plain "
                     "`git fetch`", f"{s['ratio']:.2f}x", "<= 1.2x", _ok(s["ratio"] <= 1.2)])
    search_rows: list[list[str]] = []
    if "search" in c:
        for x in c["search"]["figures"]:
            search_rows.append([
                x["backend"], f"{x['commits']:,}", f"{x['queries']:,}", f"{x['p50_ms']:.2f}",
                f"{x['p99_ms']:.2f}", f"{x['max_ms']:.2f}",
                f"{x['mean_hits']:.1f} (max {x['max_hits']})", f"{x['load_s']:.0f} s",
            ])
            rows.append([f"search p99, {x['commits']:,} commits, {x['backend']}",
                         f"{x['p99_ms']:.2f} ms", "< 20 ms", _ok(x["p99_ms"] < 20)])
    parts = [
        "## Connector\n",
        "`.venv/bin/python -m bench.connector` (bench/connector.py: what each phase measures is "
        "in its docstring; bench/connector.json holds the figures). Run by hand on the "
        f"machine above ({m['cpus']} cores, {m['cpu']}, {m['memory_gib']} GiB; "
        f"{m['git']}; {m['ssh']}; SQLite {m['sqlite']}; Python {m['python']}), shared with "
        "other engineers' test runs: each phase's load average (1, 5, 15 min) at its start "
        "and end is given with its figures. Medians of 3 repetitions with (min-max), the "
        "two sides alternating which goes first. With a load average of 6 to 11 on 2 cores "
        "the absolute times are those of a busy machine; the ratios compare runs made side by "
        "side, alternating, and are the figures the targets are about. The index's time "
        "excludes opening the store (the child process's start); its peak RSS is the whole "
        "child's (Python, SQLAlchemy and the batches), not git's.\n",
        _table(["measure", "Gitward", "target", ""], rows),
    ]
    if details:
        parts.append(_table(
            ["", "connector", "baseline", "ratio", "peak RSS (index process)", "when, load"],
            details,
        ))
    if search_rows:
        parts += [
            "Search: `services.connector_index.search` in process (what `connector search` "
            "and `GET /api/v1/connector/issues/{key}` call), keys drawn from those in the "
            "index plus 10 % that are in none.\n",
            _table(["database", "commits", "queries", "p50 ms", "p99 ms", "max ms",
                    "commits per key", "loading"], search_rows),
        ]
    return parts


def render(r: dict[str, Any], have_plot: bool, analysis: str) -> str:
    m = r["machine"]
    a = r["args"]
    parts = [
        "# Gitward against OpenSSH: benchmark results\n",
        "Generated by `./bench/run` (bench/report.py from bench/results.json); the analysis "
        "section is bench/ANALYSIS.md. Every figure is the **median of the repetitions, with "
        "(min-max)**, measured with both servers up at the same time and the order of the two "
        "alternating between repetitions.\n",
        "## How to run\n",
        "```sh\n./bench/run            # everything, as measured here (root; ~15-20 min)\n"
        "./bench/run --quick    # tiny sizes, to try the harness\n"
        "./bench/run --only rate,clone   # some phases: rate, clone, concurrency, push, auth, "
        "issue, profile, ab\n./bench/soak.py --rounds 300   # the transfer soak (see "
        "below)\n```\n",
        "It makes ./.venv with the `bench` extra (scripts/bootstrap.sh), apt-installs "
        "openssh-server, git and patch when missing, creates the local account `gwbench` "
        "(shell git-shell) for sshd, starts sshd (its own config, host keys, authorized keys "
        "and TrustedUserCAKeys) and `gitward serve` on free loopback ports over the same "
        "repositories, and stops both at the end. PostgreSQL: GITWARD_BENCH_POSTGRES_URL or "
        "--postgres-url (default postgresql://postgres@127.0.0.1:5432/test; schemas "
        "gwbench_* are created and dropped).\n",
        "## Machine and versions\n",
        _table(
            ["", ""],
            [
                ["CPU", f"{m['cores']} cores, {m['cpu']}"],
                ["memory", f"{m['memory_gib']} GiB"],
                ["kernel", m["kernel"]],
                [
                    "Python / asyncssh / cryptography",
                    f"{m['python']} / {m['asyncssh']} / {m['cryptography']}",
                ],
                ["OpenSSH server / client", f"{m['openssh_server']} / {m['openssh_client']}"],
                ["git", m["git"]],
            ],
        ),
        "When each phase was measured (a run of some phases keeps the others' figures from "
        "their own run), how long it took, and the load average (1, 5, 15 min) before and "
        "after it:\n",
        _runs_table(r),
        "The machine was shared with other engineers' test runs during the measurement; "
        "alternating the servers spreads that noise over both sides.\n",
        "## Sizes\n",
        _table(
            ["measurement", "size"],
            [
                [
                    "connection rate",
                    f"{a['conns']} sequential `git ls-remote` x {a['reps']} "
                    "repetitions per server and key type",
                ],
                [
                    "clone",
                    f"{r.get('repos', {}).get('big_pack_bytes', 0) / 1e6:.0f} MB packed "
                    f"(incompressible 1 MiB blobs), {a['clone_reps']} clones per server "
                    "and cipher, "
                    "`git clone --no-checkout`",
                ],
                [
                    "concurrency",
                    f"{a['levels']} simultaneous clones of a "
                    f"{r.get('repos', {}).get('small_pack_bytes', 0) / 1e6:.1f} MB repository, "
                    f"{a['conc_reps']} repetitions",
                ],
                [
                    "authentication at scale",
                    f"10 and {a['keys']:,} keys, then {a['cas']:,} CAs; "
                    f"{r.get('auth', {}).get('latency_rounds', '?')} x "
                    f"{r.get('auth', {}).get('latency_samples', '?')} decisions "
                    "per latency figure; "
                    f"{r.get('auth', {}).get('e2e_connections', '?')} connections per rate",
                ],
                [
                    "issuing",
                    "{http_c1} requests at concurrency 1 and {http_c16} at 16, {reps} "
                    "repetitions; ssh-keygen {keygen_c1} and {keygen_c16} certificates, {reps} "
                    "repetitions".format(
                        **r.get("issue", {}).get(
                            "sizes",
                            {
                                "http_c1": "?",
                                "http_c16": "?",
                                "reps": "?",
                                "keygen_c1": "?",
                                "keygen_c16": "?",
                            },
                        )
                    ),
                ],
            ],
        ),
        *(
            [f"**Phases that failed in this run: {', '.join(r['failed_phases'])}.**\n"]
            if r.get("failed_phases")
            else []
        ),
        "## Against the targets\n",
        _table(["measure", "Gitward", "OpenSSH", "ratio", "target", ""], targets(r)),
    ]
    if "rate" in r:
        rows = []
        for ident, v in r["rate"].items():
            for name in ("gitward", "openssh"):
                x = v[name]
                rows.append(
                    [
                        ident,
                        name,
                        _m(x["conns_per_s"]),
                        _m(x["cpu_ms_per_conn"], "{:.0f}"),
                        str(x["failures"]),
                    ]
                )
        parts += [
            "## Connection rate (sequential `git ls-remote`)\n",
            "Server CPU: the whole server (for Gitward the process and the git it ran; for "
            "OpenSSH the listener and every per-connection process, git included).\n",
            _table(["key", "server", "conn/s", "server CPU ms/conn", "failures"], rows),
        ]
    if "clone" in r:
        rows = []
        for label, v in r["clone"].items():
            for name in ("gitward", "openssh"):
                x = v[name]
                rows.append(
                    [
                        label,
                        name,
                        x["cipher"],
                        _m(x["mb_per_s"], "{:.0f}"),
                        _m(x["cpu_s_per_gb"]),
                        _m(x["own_cpu_s_per_gb"]),
                        _m(x["children_cpu_s_per_gb"]),
                        _m(x["peak_rss_mb"], "{:.0f}"),
                    ]
                )
        parts += [
            "## Clone\n",
            "CPU seconds per GB sent, split into the SSH layer and the git it ran. Gitward: the "
            "server process, and the git children it waited for. OpenSSH: the listener, the "
            "per-connection monitors and their pre-authentication children, and the session "
            "processes' own time, then the git those session processes ran (bench/reaper.py "
            "reads each session process's times as a zombie, before reaping it). Peak RSS "
            "includes git, whose pack-objects maps the whole pack.\n",
            _table(
                [
                    "cipher setting",
                    "server",
                    "negotiated",
                    "MB/s",
                    "CPU s/GB total",
                    "SSH layer s/GB",
                    "git s/GB",
                    "peak RSS MB",
                ],
                rows,
            ),
        ]
    if "concurrency" in r:
        rows = []
        for level, v in r["concurrency"].items():
            for name in ("gitward", "openssh"):
                x = v[name]
                rows.append(
                    [
                        level,
                        name,
                        _m(x["seconds"], "{:.2f}"),
                        "/".join(str(f) for f in x["failures"]),
                        _m(x["peak_rss_mb"], "{:.0f}"),
                        str(x["peak_processes"]),
                        str(x.get("peak_fds", "")),
                        f"{'/'.join(map(str, x['fds_before']))} -> "
                        f"{'/'.join(map(str, x['fds_after']))}",
                        _m(x["cpu_s"], "{:.2f}"),
                        _m(x["mb_per_s"], "{:.1f}"),
                    ]
                )
        parts += [
            "## Concurrent clones\n",
            "Peak memory: the largest sum of RSS over the server's process tree, sampled every "
            "100 ms (sshd forks per connection; Gitward runs git per request). Descriptors: "
            "open in the server's process tree before and after each repetition.\n",
            _table(
                [
                    "clones",
                    "server",
                    "completion s",
                    "failures",
                    "peak RSS MB",
                    "peak processes",
                    "peak fds",
                    "fds before -> after",
                    "server CPU s",
                    "MB/s",
                ],
                rows,
            ),
        ]
        if have_plot:
            parts.append(f"![clone throughput and server CPU against concurrency]({PLOT})\n")
    if "push" in r:
        parts += push_section(r["push"])
    if "soak" in r:
        parts += soak_section(r["soak"])
    if "connector" in r:
        parts += connector_section(r["connector"])
    if "workers" in r:
        parts += workers_section(r["workers"])
    if "auth" in r:
        auth = r["auth"]
        rows = []
        for backend in ("sqlite", "postgresql"):
            for stage, v in (auth.get(backend) or {}).items():
                for name in ("small", "large"):
                    x = v[name]
                    rows.append(
                        [
                            backend,
                            "keys" if stage == "keys" else "+ CAs",
                            f"{x['keys']:,}",
                            f"{x['cas']:,}",
                            _m(x["key_latency"]["p50_ms"], "{:.2f}"),
                            _m(x["key_latency"]["p99_ms"], "{:.2f}"),
                            _m(x["cert_latency"]["p50_ms"], "{:.2f}"),
                            _m(x["cert_latency"]["p99_ms"], "{:.2f}"),
                            _m(x["e2e"]["ed25519"]["conns_per_s"]),
                            _m(x["e2e"]["cert"]["conns_per_s"]),
                        ]
                    )
        parts += [
            "## Authentication at scale\n",
            "Two stores per database, side by side: one with 10 registered keys and 1 CA, one "
            "filled up (the CAs are added after the key figures). Their latency batches and "
            "their servers alternate, as the two servers do above. In process: "
            "`services.ssh_access.authenticate(ctx, ssh_username='git', key_blob=..., "
            "peer='127.0.0.1', signed=True)`, the decision the server makes for a signed "
            "attempt (lookup, policy, audit event, last-used update, commit); "
            f"{auth.get('latency_rounds', '?')} rounds of {auth.get('latency_samples', '?')} "
            "decisions per store and credential, the stores alternating batch by batch; the "
            "figure is the quantile over all of a store's decisions, with (the lowest-the "
            "highest) per-round quantile. End to end: sequential `git ls-remote` against "
            "`gitward serve` on that store.\n",
            _table(
                [
                    "database",
                    "stage",
                    "keys",
                    "CAs",
                    "key p50 ms",
                    "key p99 ms",
                    "certificate p50 ms",
                    "certificate p99 ms",
                    "e2e conn/s, key",
                    "e2e conn/s, certificate",
                ],
                rows,
            ),
        ]
        if auth.get("skipped_postgresql"):
            parts.append(f"PostgreSQL was skipped: {auth['skipped_postgresql']}\n")
    if "issue" in r:
        i = r["issue"]
        rows = []
        for c, v in i.get("http", {}).items():
            rows.append(
                [
                    f"HTTP API, concurrency {c}",
                    _m(v["per_s"], "{:.0f}"),
                    _m(v["p50_ms"]),
                    _m(v["p99_ms"]),
                    _m(v["server_cpu_ms_per_cert"], "{:.2f}"),
                    str(v["failures"]),
                ]
            )
        ip = i.get("in_process")
        if ip:
            rows.append(
                [
                    "service function in process, 1 thread",
                    f"{ip['per_s']:.0f}",
                    f"{ip['p50_ms']:.1f}",
                    f"{ip['p99_ms']:.1f}",
                    "",
                    "",
                ]
            )
        for c, v in i.get("ssh_keygen", {}).items():
            rows.append(
                [
                    f"`ssh-keygen -s` per certificate, concurrency {c}",
                    _m(v["per_s"], "{:.0f}"),
                    _m(v["p50_ms"]),
                    _m(v["p99_ms"]),
                    "",
                    str(v["failures"]),
                ]
            )
        parts += [
            "## Issuing certificates\n",
            "`POST /api/v1/ssh/certificates` (Gitward's `create_app` under uvicorn, SQLite, "
            "one managed Ed25519 CA), HTTP/1.1 keep-alive, one connection per worker.\n",
            _table(
                ["", "certificates/s", "p50 ms", "p99 ms", "server CPU ms/cert", "failures"], rows
            ),
        ]
    if r.get("issuing_steps"):
        parts += issuing_steps_section(r["issuing_steps"])
    if "ab" in r:
        ab = r["ab"]
        rows = []
        if "clone" in ab:
            b, a = ab["clone"]["before"], ab["clone"]["after"]
            for key, what in (
                ("own_cpu_s_per_gb", "clone: SSH-layer CPU s/GB (server process)"),
                ("cpu_s_per_gb", "clone: server CPU s/GB, git included"),
                ("mb_per_s", "clone: MB/s"),
            ):
                rows.append(
                    [what, _m(b[key]), _m(a[key]), f"{a[key]['median'] / b[key]['median']:.2f}x"]
                )
        if "rate" in ab:
            b, a = ab["rate"]["before"], ab["rate"]["after"]
            for key, what in (
                ("cpu_ms_per_conn", "ls-remote: server CPU ms/connection"),
                ("conns_per_s", "ls-remote: connections/s"),
            ):
                rows.append(
                    [what, _m(b[key]), _m(a[key]), f"{a[key]['median'] / b[key]['median']:.2f}x"]
                )
        for backend, v in ab.get("auth", {}).items():
            rows.append(
                [
                    f"authentication decision p50 ms, {backend}",
                    _m(v["before"], "{:.2f}"),
                    _m(v["after"], "{:.2f}"),
                    f"{v['after']['median'] / v['before']['median']:.2f}x",
                ]
            )
        parts += [
            "## Before and after the changes (same run, side by side)\n",
            "`before`: a copy of src/gitward with bench/perf.patch applied in reverse; "
            "`after`: the tree as it is. Both serve the same data directory, alternating "
            "(chacha20-poly1305, the client's default; 2 big clones and 3 x "
            f"{r['args']['conns']} ls-remote each; authentication: batches of 200 decisions, "
            "median of the batch medians).\n",
            _table(["", "before", "after", "after/before"], rows),
        ]
    if analysis:
        parts.append(analysis)
    return "\n".join(parts)


def issuing_steps_section(steps: dict[str, Any]) -> list[str]:
    """bench/issuing_steps.py's runs (bench/issuing-steps.jsonl, one line per run, in the
    order they ran) and the notes on them (bench/issuing-steps.md, as written)."""
    rows = []
    for x in steps["runs"]:
        rows.append(
            [
                x["label"],
                x["db"],
                str(x.get("processes", 1)),
                f"{x['per_s_median']} ({x['per_s_best']})",
                f"{x['p50_ms_median']:.1f}",
                f"{x['p99_ms_median']:.1f} ({x['p99_ms_best']:.1f})",
                f"{x['cpu_ms_per_cert_median']:.2f}",
                f"{x['failures']} / {x['unrecorded']}",
                f"{x['reps']} x {x['total']:,} at c={x['concurrency']}",
                f"{x['at']}; {x['load_before']} / {x['load_after']}",
            ]
        )
    return [
        "## Issuing, step by step (issue 11)\n",
        "`./.venv/bin/python -m bench.issuing_steps --db sqlite|postgresql --label STEP` "
        "(bench/issuing_steps.py): a fresh store, `gitward serve`, 300 requests to warm up, "
        "then REPS x N requests at concurrency C (16 unless said) through "
        "`POST /api/v1/ssh/certificates` "
        "(HTTP/1.1 keep-alive, one connection per worker, bench/issuing.py's client). "
        "certificates/s and p99: median of the repetitions (best in brackets); server CPU: "
        "the `gitward serve` processes' user+system time per certificate, the figure the "
        "machine's load disturbs least; failures / unrecorded: non-201 answers, and 201 "
        "answers whose certificate the inventory does not hold (counted after each "
        "repetition). Load: `uptime` before / after.\n",
        _table(
            [
                "step",
                "database",
                "processes",
                "certificates/s",
                "p50 ms",
                "p99 ms",
                "server CPU ms/cert",
                "failures / unrecorded",
                "requests",
                "measured; load before / after",
            ],
            rows,
        ),
        steps.get("notes", ""),
    ]


def write(results: dict[str, Any], here: Path, *, plot_again: bool = True) -> None:
    """RESULTS.md and the plot into ``here`` (bench/ for a full run), with the soak's
    figures from bench/soak.json and the connector's from bench/connector.json when they
    exist. ``plot_again=False`` keeps the plot as it is (bench/connector.py: its run has
    no new clone figures, and may lack matplotlib)."""
    import json

    soak = here / "soak.json"
    if soak.exists() and "soak" not in results:
        results = {**results, "soak": json.loads(soak.read_text())}
    connector = here / "connector.json"
    if connector.exists() and "connector" not in results:
        results = {**results, "connector": json.loads(connector.read_text())}
    workers = here / "workers.json"
    if workers.exists() and "workers" not in results:
        results = {**results, "workers": json.loads(workers.read_text())}
    steps = here / "issuing-steps.jsonl"
    if steps.exists() and "issuing_steps" not in results:
        notes = here / "issuing-steps.md"
        runs = [json.loads(line) for line in steps.read_text().splitlines() if line.strip()]
        results = {
            **results,
            "issuing_steps": {
                "runs": runs,
                "notes": notes.read_text() if notes.exists() else "",
            },
        }
    have_plot = plot(results, here / PLOT) if plot_again else (here / PLOT).exists()
    analysis_path = Path(__file__).resolve().parent / "ANALYSIS.md"
    analysis = analysis_path.read_text() if analysis_path.exists() else ""
    (here / "RESULTS.md").write_text(render(results, have_plot, analysis))
    print("== wrote", here / "RESULTS.md", "and", here / PLOT if have_plot else "(no plot)")
