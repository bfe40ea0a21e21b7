"""Group commit: concurrent requests share one database transaction.

Each caller hands its work to ``GroupCommit.submit`` and blocks until that work is
committed (or failed). There is no writer thread: the first caller to find no commit in
progress becomes the *leader*: it waits up to ``window`` seconds for more work (or until
``max_batch`` items are queued), takes the queue, runs ``commit(batch)`` in its own
thread, hands every caller its own outcome, then passes leadership to the oldest caller
still waiting (which may be itself, if the queue held more than one batch). Callers that
arrive while a commit runs queue up for the next one, so under load the batch size grows
by itself and one fsync serves many certificates.

The leader waits only for callers that said they are coming (``announce``: a request
that is still reading what it needs): with nobody else on the way it commits at once, so a
lone request pays no window.

``commit`` returns one outcome per item, in order: a value, or an exception to raise in
that item's caller. If ``commit`` itself raises, every item of the batch gets that error.
A caller is resolved only after ``commit`` returned, i.e. after its transaction is
committed: nothing is answered before it is durable.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class _Slot(Generic[In, Out]):
    __slots__ = ("done", "error", "event", "item", "lead", "value")

    def __init__(self, item: In) -> None:
        self.item = item
        self.event = threading.Event()
        self.done = False
        self.lead = False
        self.value: Out | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[In, Out]):
    def __init__(
        self,
        commit: Callable[[Sequence[In]], Sequence[Out | BaseException]],
        *,
        max_batch: int = 64,
        window: float = 0.002,
    ) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._window = window
        self._cond = threading.Condition()
        self._queue: collections.deque[_Slot[In, Out]] = collections.deque()
        self._leading = False
        self._coming = 0  # announced callers that have not submitted yet
        self.batches = 0  # how many commits ran, and how many items they carried
        self.items = 0

    @contextlib.contextmanager
    def announce(self) -> Iterator[Callable[[In], Out]]:
        """``with group.announce() as submit: ...prepare...; return submit(item)``: a
        leader waiting for company waits for this caller too, until it submits or leaves
        the block (an error while preparing)."""
        with self._cond:
            self._coming += 1
        submitted = False

        def submit(item: In) -> Out:
            nonlocal submitted
            submitted = True
            return self.submit(item, _announced=True)

        try:
            yield submit
        finally:
            if not submitted:
                with self._cond:
                    self._coming -= 1
                    self._cond.notify_all()

    def submit(self, item: In, *, _announced: bool = False) -> Out:
        slot: _Slot[In, Out] = _Slot(item)
        with self._cond:
            self._queue.append(slot)
            if _announced:
                self._coming -= 1
            lead = not self._leading
            if lead:
                self._leading = True
            else:
                self._cond.notify_all()  # a leader waiting for company: one more, or full
        while not slot.done:
            if not lead:
                slot.event.wait()
                slot.event.clear()
                if slot.done:
                    break
                lead = slot.lead  # promoted by the previous leader
                if not lead:
                    continue
            self._lead()
            lead = False
        if slot.error is not None:
            raise slot.error
        return slot.value  # type: ignore[return-value]

    def _lead(self) -> None:
        batch: list[_Slot[In, Out]] = []
        outcomes: Sequence[Out | BaseException] = []
        try:
            with self._cond:
                if self._window > 0:
                    deadline = time.monotonic() + self._window
                    while len(self._queue) < self._max_batch and self._coming > 0:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                size = min(self._max_batch, len(self._queue))
                batch = [self._queue.popleft() for _ in range(size)]
            outcomes = self._commit([s.item for s in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"commit gave {len(outcomes)} outcomes for {len(batch)}")
        except BaseException as exc:  # every caller of the batch gets the error
            outcomes = [exc] * len(batch)
        finally:
            # Whatever happened, every caller taken is answered and the lead passes on:
            # no caller waits for a leader that is gone.
            self.batches += 1
            self.items += len(batch)
            for s, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    s.error = outcome
                else:
                    s.value = outcome
                s.done = True
                s.event.set()
            with self._cond:
                if self._queue:
                    nxt = self._queue[0]
                    nxt.lead = True
                    nxt.event.set()
                else:
                    self._leading = False
