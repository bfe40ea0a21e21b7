"""The fuzz targets of fuzz/ in CI: a short, deterministic run of each (fixed seed, fixed
number of inputs). Any exception other than the parser's documented ones, or an input
slower than fuzz.targets.SLOW_SECONDS, fails the test with the input that caused it.

Long runs by hand: ``python -m fuzz --seconds 180`` (see fuzz/README.md).
"""

from __future__ import annotations

import pytest
from fuzz.engine import Figures, run_target
from fuzz.targets import TARGETS, Target

SEED = 20261204
DEFAULT_INPUTS = 3000
# The slow parsers (RSA key checks, big regular expressions) get fewer inputs: the whole
# module stays well under a minute on the 2-core CI machine.
INPUTS = {"key_loaders": 250, "key_pem": 800, "key_codecs": 1000, "git_log_records": 800}


def _report(figures: Figures) -> str:
    return "\n".join(
        f"{what}: {finding.data[:300]!r}" for what, finding in figures.distinct_findings.items()
    )


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_ok_only_documented_errors_escape(name: str) -> None:
    target = TARGETS[name]
    assert target.seeds(), f"{name} has no seeds"
    figures = run_target(target, seed=SEED, max_inputs=INPUTS.get(name, DEFAULT_INPUTS))
    assert not figures.findings, _report(figures)
    # The run reached both sides of the parser: inputs it refused and inputs it accepted.
    assert figures.accepted > 0, f"{name}: nothing parsed, the seeds are wrong"
    if target.allowed:
        assert figures.allowed_errors > 0, f"{name}: nothing refused, the mutator is idle"


def test_fail_a_parser_bug_is_found_and_reported() -> None:
    """The engine itself: a parser that crashes on some inputs is caught."""

    def fragile(data: bytes) -> None:
        if b"\xff" in data:
            raise IndexError("a stray exception")
        if len(data) < 4:
            raise ValueError("documented")

    target = Target("fragile", fragile, (ValueError,), lambda: [b"abcdefgh", b"xy"])
    figures = run_target(target, seed=SEED, max_inputs=2000)
    assert figures.findings and figures.allowed_errors and figures.accepted
    [(what, finding)] = figures.distinct_findings.items()
    assert what.startswith("IndexError at ") and b"\xff" in finding.data
