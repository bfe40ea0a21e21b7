"""services/group_commit.py alone: callers meet in batches, each gets its own outcome, a
failed commit fails exactly its batch, and no caller is left waiting."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from gitward.services.group_commit import GroupCommit


def _run_together(group: GroupCommit[int, int], items: list[int]) -> list[int | BaseException]:
    start = threading.Barrier(len(items))
    out: list[int | BaseException] = [RuntimeError("not run")] * len(items)

    def one(i: int) -> None:
        try:
            with group.announce() as submit:  # announced: a leader waits for this caller
                start.wait()
                out[i] = submit(items[i])
        except BaseException as exc:
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a caller is still waiting"
    return out


def test_ok_each_caller_gets_its_own_outcome_in_shared_batches() -> None:
    batches: list[list[int]] = []

    def commit(items: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(items))
        return [i * 10 if i % 7 else ValueError(f"item {i}") for i in items]

    group = GroupCommit(commit, max_batch=8, window=1.0)
    out = _run_together(group, list(range(1, 33)))

    for i, got in enumerate(out, start=1):
        if i % 7:
            assert got == i * 10
        else:
            assert isinstance(got, ValueError) and str(got) == f"item {i}"
    assert sorted(i for b in batches for i in b) == list(range(1, 33))  # each once
    assert all(len(b) <= 8 for b in batches) and len(batches) < 32


def test_fail_a_commit_that_raises_fails_its_whole_batch_only() -> None:
    calls = 0

    def commit(items: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")
        return list(items)

    group = GroupCommit(commit, max_batch=64, window=1.0)
    out = _run_together(group, list(range(10)))
    assert all(isinstance(o, OSError) for o in out)  # one batch of 10: all failed
    assert group.submit(5) == 5  # the next commit works: the lead was handed back


def test_fail_a_wrong_number_of_outcomes_is_an_error_for_every_caller() -> None:
    group: GroupCommit[int, int] = GroupCommit(lambda items: [1], max_batch=4, window=1.0)
    out = _run_together(group, [1, 2, 3, 4])
    assert all(isinstance(o, RuntimeError) and "outcomes" in str(o) for o in out)


def test_ok_a_lone_caller_commits_without_waiting_for_company() -> None:
    # A window of an hour: a lone caller (nobody announced) must not wait for it.
    group = GroupCommit(lambda items: [i + 1 for i in items], max_batch=64, window=3600)
    assert [group.submit(i) for i in range(3)] == [1, 2, 3]
    with group.announce() as submit:
        assert submit(7) == 8
    assert group.batches == 4


def test_ok_a_caller_that_fails_before_submitting_does_not_hold_the_batch() -> None:
    group = GroupCommit(lambda items: list(items), max_batch=64, window=3600)
    with pytest.raises(ValueError), group.announce():
        raise ValueError("bad request")  # announced, then left without submitting
    assert group.submit(1) == 1  # with an hour's window: nobody is waited for


@pytest.mark.parametrize("window", [0.0, 0.002])
def test_ok_many_callers_all_answered(window: float) -> None:
    group = GroupCommit(lambda items: list(items), max_batch=5, window=window)
    items = list(range(50))
    assert _run_together(group, items) == items
    assert group.items == 50
