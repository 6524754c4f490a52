"""LoadFuture: set once; blocking waiters on threads and async waiters on two event loops all
get the value or the exception; a wait is bounded; waiting after it is set returns at once."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from defiperf.cache.load_future import LoadFuture


def loop_waiter(fut: LoadFuture, out: list[Any]) -> threading.Thread:
    async def wait() -> None:
        try:
            out.append(await asyncio.wait_for(fut.waiter(), 10))
        except LookupError as exc:
            out.append(exc)

    return threading.Thread(target=asyncio.run, args=(wait(),))


def thread_waiter(fut: LoadFuture, out: list[Any]) -> threading.Thread:
    def wait() -> None:
        assert fut.wait(10)
        try:
            out.append(fut.outcome())
        except LookupError as exc:
            out.append(exc)

    return threading.Thread(target=wait)


@pytest.mark.parametrize("fail", [False, True])
def test_every_waiter_gets_the_one_outcome(fail: bool) -> None:
    fut = LoadFuture()
    out: list[Any] = []
    waiters = [make(fut, out) for make in (loop_waiter, thread_waiter) for _ in range(4)]
    for t in waiters:
        t.start()
    error = LookupError("no price")
    assert fut.settle(exc=error) if fail else fut.settle(42)
    assert not fut.settle(7) and not fut.settle(exc=ValueError())  # set once
    for t in waiters:
        t.join(10)
    assert out == [error if fail else 42] * 8
    late: list[Any] = []
    for t in (loop_waiter(fut, late), thread_waiter(fut, late)):
        t.start()
        t.join(10)
    assert late == [error if fail else 42] * 2 and fut.done()


def test_a_wait_is_bounded() -> None:
    fut = LoadFuture()
    assert fut.wait(0.01) is False and not fut.done()
    fut.settle(None)
    assert fut.wait(0) is True and fut.outcome() is None
