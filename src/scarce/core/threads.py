"""Torch's thread count while a training loop runs, chosen by timing the loop itself.

torch's OpenMP threads spin while they wait for each other. When another process holds one
of the cores, every parallel region waits for a descheduled thread: 30 fine-tuning steps of
EfficientNet-Lite0 took 7.7 s on this machine's 2 threads beside one busy process, against
4.2 s on one thread (MiniLM: 64 against 40 s; bench/threads.py). Idle, one thread is
1.6-1.75x slower. ONNX Runtime's pool did not suffer (0.87 s per batch either way), so only
torch loops need this. OMP_WAIT_POLICY=PASSIVE narrows the gap but costs 30-50% on an idle
machine and must be set before torch loads, so the count is chosen instead: a step now and
then runs on the other count, and the faster one is kept.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from scarce.core.logs import plural

log = logging.getLogger(__name__)

FIRST_CHECK = 3  # steps timed before the other count is first tried (the first is warm-up)
TRY_STEPS = 2  # steps the other count runs when tried (one thread was seen to lose its first)
RECHECK = 8  # steps before the count that lost is timed again
MOST_WAIT = 256  # the wait doubles each time the other count loses again, up to this
# the other count must take under this share of the current one's time: to one thread, a
# clear win (beside busy processes 1.3x to 10x; idle, one thread was 1.6-1.75x slower), so
# that an idle machine never switches on noise and a run repeats; back to more threads, the
# same (idle, more threads are 1.6x faster)
SWITCH_DOWN = 0.7
SWITCH_UP = 0.7  # 0.8 went back up on noise beside two busy processes (11 of 30 steps)
SLOWDOWN = 3.0  # a step this many times slower than the recent ones times the other count
CARRY = 120.0  # seconds for which a loop that ended on one thread starts the next one there

_ended_on_one: float | None = None  # when the last loop ended on one thread (clock seconds)


def fixed_by_user() -> bool:
    """OMP_NUM_THREADS set: the user (or a benchmark) fixed the count, and results then
    repeat to the bit; a count that follows the machine's load does not."""
    return bool(os.environ.get("OMP_NUM_THREADS"))


class ThreadChooser:
    """Times the steps of a loop (per example) and runs them on the faster of torch's thread
    count at entry and one thread. Use as a context manager around the loop, with
    `step(size)` around each step; the chosen count also holds between steps (validation
    passes run on it). The other count is tried at fixed steps, so that on a machine whose
    load does not change the same steps run on the same counts, and the result repeats.
    Does nothing when not `enabled` (a training batch inside a loop that chooses), with one
    thread, with OMP_NUM_THREADS set, or off the main thread, where torch's process-wide
    count belongs to whoever set it."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.perf_counter,
        get: Callable[[], int] | None = None,
        set_: Callable[[int], None] | None = None,
    ) -> None:
        self.enabled, self.clock = enabled, clock
        self._get, self._set = get, set_
        self.active = False
        self.current = self.before = 1
        self.times: dict[int, collections.deque[float]] = {}
        self.steps: collections.Counter[int] = collections.Counter()
        self.done = 0  # steps taken
        self.next_check = FIRST_CHECK
        self.wait = RECHECK
        self.full = 0  # the largest step seen, in units of work
        self.slow = 0  # steps in a row far slower than the recent ones
        self.tried = False  # has the other count been timed in this loop
        self.trying: list[float] | None = None  # times of the other count, while tried

    # torch is imported only when a count must be read or set
    def _threads(self) -> int:
        if self._get is not None:
            return self._get()
        import torch

        return torch.get_num_threads()

    def _use(self, n: int) -> None:
        if self._threads() == n:
            return
        if self._set is not None:
            self._set(n)
            return
        import torch

        torch.set_num_threads(n)

    def __enter__(self) -> ThreadChooser:
        self.before = self.current = self._threads()
        on_main = threading.current_thread() is threading.main_thread()
        self.active = self.enabled and on_main and self.before > 1 and not fixed_by_user()
        self.times = {n: collections.deque(maxlen=3) for n in (self.before, 1)}
        if self.active and _ended_on_one is not None and self.clock() - _ended_on_one < CARRY:
            self.current = 1  # the cores were busy a moment ago: no slow steps to find it again
        return self

    def __exit__(self, *exc: Any) -> None:
        global _ended_on_one
        if self.active:
            if self.tried:  # only a loop that timed both counts renews or ends the carry
                _ended_on_one = self.clock() if self.current == 1 else None
            self._use(self.before)
            if self.steps[1] and self.steps[self.before]:
                log.debug("thread counts used, in steps: %s", dict(self.steps))

    def used(self) -> dict[str, int]:
        """Steps run per thread count."""
        return {str(n): c for n, c in sorted(self.steps.items(), reverse=True)}

    @contextlib.contextmanager
    def step(self, size: int = 1) -> Iterator[None]:
        """Time one step of `size` examples (or other units of work)."""
        if not self.active:
            yield
            return
        if size < self.full / 2:
            # an epoch's short last batch: the step's fixed cost, spread over few examples,
            # would read as a slow machine (review 37: 9 of 20 idle steps went to 1 thread)
            yield
            self.steps[self.current] += 1
            return
        self.full = max(self.full, size)
        mine = self.times[self.current]
        if not self.trying and self.done >= self.next_check and len(mine) >= 2:
            self.trying = []
        probing = self.trying is not None
        n = (1 if self.current != 1 else self.before) if probing else self.current
        self._use(n)
        start = self.clock()
        try:
            yield
        except BaseException:
            self._use(self.current)  # a step that failed while trying the other count
            self.trying = None
            raise
        took = (self.clock() - start) / max(size, 1)
        self.steps[n] += 1
        self.done += 1
        if self.done == 1:  # the first step allocates: its time says little
            return
        if self.trying is None:
            slow = len(mine) >= 2 and took > SLOWDOWN * statistics.median(mine)
            self.slow = self.slow + 1 if slow else 0
            mine.append(took)
            if self.slow >= 2:  # two in a row: the machine changed; one is a hiccup
                self.next_check, self.slow = self.done, 0
            return
        self.trying.append(took)
        if len(self.trying) < TRY_STEPS:
            return
        # the faster of the tries: the first step after a switch pays for the switch
        took, self.trying, self.tried = min(self.trying), None, True
        if took < (SWITCH_DOWN if n == 1 else SWITCH_UP) * statistics.median(mine):
            log.info(
                "torch now runs on %d %s: %.1fx faster per step than on %d%s",
                n,
                plural("thread", n),
                statistics.median(mine) / took,
                self.current,
                " (another process is busy on these cores)" if n == 1 else "",
            )
            self.current, self.wait = n, RECHECK
            self.times[n].clear()
            self.times[n].append(took)
            self.next_check = self.done + self.wait
        else:
            self._use(self.current)
            self.next_check = self.done + self.wait
            self.wait = min(2 * self.wait, MOST_WAIT)
