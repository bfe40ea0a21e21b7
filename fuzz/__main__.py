"""Run the fuzz targets by hand: ``python -m fuzz [TARGET ...] [--seconds N] [--seed S]``.

Prints, per target, the inputs run, how many were refused with the documented error, how
many parsed, and every distinct finding (saved under ``fuzz/findings/TARGET-N.bin`` to
reproduce). ``--atheris`` runs one target under atheris (libFuzzer) instead, when it is
installed: ``python -m fuzz --atheris certificate -- -max_total_time=180``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from fuzz.engine import run_target
from fuzz.targets import TARGETS, names

FINDINGS = Path(__file__).resolve().parent / "findings"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz")
    parser.add_argument("targets", nargs="*", help=f"default: all ({', '.join(TARGETS)})")
    parser.add_argument("--seconds", type=float, default=10.0, help="per target")
    parser.add_argument("--inputs", type=int, default=None, help="per target (instead of time)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--atheris", action="store_true", help="run one target under atheris")
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if args.atheris:
        return _atheris(names(args.targets)[0], rest)
    total_findings = 0
    print(f"{'target':<18} {'inputs':>9} {'seconds':>8} {'refused':>9} {'parsed':>8} findings")
    for name in names(args.targets):
        seconds = None if args.inputs else args.seconds
        figures = run_target(TARGETS[name], seed=args.seed, max_inputs=args.inputs, seconds=seconds)
        distinct = figures.distinct_findings
        print(
            f"{name:<18} {figures.inputs:>9} {figures.seconds:>8.1f} "
            f"{figures.allowed_errors:>9} {figures.accepted:>8} {len(figures.findings)}",
            flush=True,
        )
        for i, (what, finding) in enumerate(distinct.items()):
            FINDINGS.mkdir(exist_ok=True)
            path = FINDINGS / f"{name}-{i}.bin"
            path.write_bytes(finding.data)
            print(f"    {what}  ({path})", flush=True)
        total_findings += len(distinct)
    return 1 if total_findings else 0


def _atheris(name: str, libfuzzer_args: list[str]) -> int:
    try:
        import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        print("atheris is not installed (pip install atheris)", file=sys.stderr)
        return 2
    target = TARGETS[name]
    corpus = FINDINGS.parent / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(target.seeds()):
        (corpus / f"seed-{i}").write_bytes(data)

    def one(data: bytes) -> None:
        with contextlib.suppress(*target.allowed):
            target.run(data)

    atheris.instrument_all()  # coverage feedback for the already imported gitward code
    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], one)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
