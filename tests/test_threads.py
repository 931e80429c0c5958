"""The thread count of torch training loops follows the machine's load (core.threads)."""

from __future__ import annotations

import threading

import pytest

from scarce.core import threads as th


class Machine:
    """A fake torch thread count and clock: a step costs `cost[count]` seconds."""

    def __init__(self, count: int, cost: dict[int, float]) -> None:
        self.count, self.cost, self.now, self.sets = count, dict(cost), 0.0, 0

    def set(self, n: int) -> None:
        self.count, self.sets = n, self.sets + 1

    def chooser(self) -> th.ThreadChooser:
        return th.ThreadChooser(clock=lambda: self.now, get=lambda: self.count, set_=self.set)

    def run(self, chooser: th.ThreadChooser, steps: int) -> list[int]:
        """The thread count of each step."""
        seen = []
        for _ in range(steps):
            with chooser.step(4):
                seen.append(self.count)
                self.now += 4 * self.cost[self.count]
        return seen


@pytest.fixture(autouse=True)
def no_user_count(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(th, "_ended_on_one", None)


def test_busy_cores_move_training_to_one_thread_and_the_count_comes_back():
    m = Machine(2, {2: 2.0, 1: 0.15})  # measured: 2-4 s against 0.14 s a step
    with m.chooser() as c:
        seen = m.run(c, 40)
    # warm-up, two timed steps, then one thread is tried at step 3 and kept
    assert seen[:4] == [2, 2, 2, 1]
    # tries of 2 threads, two steps each, backing off
    assert [i for i, n in enumerate(seen) if n == 2][3:] == [13, 14, 23, 24]
    assert m.count == 2  # the entry count is restored


def test_an_idle_machine_keeps_its_threads_and_tries_one_at_fixed_steps():
    m = Machine(2, {2: 0.08, 1: 0.14})  # idle: one thread 1.75x slower
    with m.chooser() as c:
        seen = m.run(c, 60)
    ones = [i for i, n in enumerate(seen) if n == 1]
    assert ones == [3, 4, 13, 14, 31, 32]  # two steps each, backing off: 8, 16, 32
    again = Machine(2, {2: 0.08, 1: 0.14})
    with again.chooser() as c:
        assert again.run(c, 60) == seen  # the same steps on the same counts: a run repeats


def test_one_thread_must_win_clearly_but_more_threads_need_only_win():
    m = Machine(2, {2: 0.10, 1: 0.08})  # 0.8x: not enough to leave 2 threads
    with m.chooser() as c:
        assert m.run(c, 30).count(1) <= 4  # the tries
    m = Machine(2, {2: 2.17, 1: 1.35})  # measured: MiniLM beside one busy process
    with m.chooser() as c:
        assert m.run(c, 30).count(1) >= 22
    m = Machine(2, {2: 1.0, 1: 0.1})
    with m.chooser() as c:
        m.run(c, 10)
        assert m.count == 1
        m.cost = {2: 0.06, 1: 0.1}  # the other process ended: 2 threads win by 40%
        m.run(c, 20)
        assert m.count == 2


def test_a_sudden_slowdown_tries_the_other_count_at_once():
    m = Machine(2, {2: 0.08, 1: 0.14})
    with m.chooser() as c:
        m.run(c, 20)  # tries at 3-4 and 13-14 lost; the next are due at 31
        m.cost[2] = 2.0
        seen = m.run(c, 5)
    assert seen == [2, 2, 1, 1, 1]  # two slow steps in a row, then one thread tried and kept


def test_a_single_hiccup_or_an_epochs_short_last_batch_moves_nothing():
    """Review 37: one 4x step on an idle machine, or the last batch of 1 after 16 (its fixed
    cost over one example), sent idle steps to one thread and broke 'a run repeats'."""
    m = Machine(2, {2: 0.08, 1: 0.14})
    with m.chooser() as c:
        m.run(c, 14)
        m.cost[2] = 0.32  # one hiccup
        m.run(c, 1)
        m.cost[2] = 0.08
        assert m.run(c, 10) == [2] * 10
    # batches of 16 and a last one of 1: a step costs 15 ms plus 5 ms per example
    m = Machine(2, {2: 0.005, 1: 0.0085})
    seen = []
    with m.chooser() as c:
        for _ in range(20):
            for size in (16, 1):
                with c.step(size):
                    seen.append(m.count)
                    m.now += 0.015 + size * m.cost[m.count]
    assert seen.count(1) <= 6, seen  # only the fixed tries (and a short batch between)


@pytest.mark.parametrize("why", ["one thread", "user's count", "worker thread"])
def test_the_count_is_left_alone(why, monkeypatch):
    m = Machine(1 if why == "one thread" else 2, {1: 0.1, 2: 5.0})
    if why == "user's count":
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
    seen: list[int] = []

    def go() -> None:
        with m.chooser() as c:
            seen.extend(m.run(c, 20))

    if why == "worker thread":
        t = threading.Thread(target=go)
        t.start()
        t.join()
    else:
        go()
    assert m.sets == 0
    assert set(seen) == {m.count}


def test_a_short_loop_neither_renews_nor_ends_the_carry():
    """Review 37: passes of 1-3 steps (predictions) never time the other count, yet renewed
    the 'stay on one thread' carry each time, forever."""
    m = Machine(2, {2: 2.0, 1: 0.15})
    with m.chooser() as c:
        m.run(c, 10)
    ended = th._ended_on_one
    m.now += 60
    with m.chooser() as c:
        m.run(c, 2)
    assert th._ended_on_one == ended


def test_a_loop_that_ended_on_one_thread_starts_the_next_there():
    m = Machine(2, {2: 2.0, 1: 0.15})
    with m.chooser() as c:
        m.run(c, 10)
    assert m.count == 2  # restored between loops
    with m.chooser() as c:
        seen = m.run(c, 5)
    assert seen[:3] == [1, 1, 1]  # no slow steps to find the busy cores again
    m.now += th.CARRY + 1  # long after: the next loop starts from the entry count again
    m.cost = {2: 0.08, 1: 0.14}
    with m.chooser() as c:
        m.run(c, 10)
    with m.chooser() as c:
        assert m.run(c, 3) == [2, 2, 2]


def test_a_step_that_fails_while_trying_the_other_count_leaves_the_current_one():
    """Review 37: caught inside the loop, the failure left torch on the tried count."""
    m = Machine(2, {2: 0.08, 1: 0.14})
    tried = []

    def bad_step(c: th.ThreadChooser) -> None:
        with c.step(4):  # step 3 tries one thread
            tried.append(m.count)
            raise RuntimeError("a bad batch")

    with m.chooser() as c:
        m.run(c, 3)
        with pytest.raises(RuntimeError):
            bad_step(c)
        assert tried == [1]
        assert m.count == 2
    assert m.count == 2
