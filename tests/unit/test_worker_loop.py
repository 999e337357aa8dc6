"""The worker loop (discom/worker/runner.py): when it runs its jobs again at once, and when
it sleeps until woken or until the poll interval passes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from discom.worker.runner import Periodic, Worker
from discom.worker.wakeup import EVERYTHING, MESSAGES, ORDERS, Wakeup, parse_news


class Queue:
    """A job that takes up to `batch` items per run and counts its runs."""

    def __init__(self, items: int, batch: int) -> None:
        self.items, self.batch, self.runs = items, batch, 0

    async def run(self) -> int:
        self.runs += 1
        taken = min(self.items, self.batch)
        self.items -= taken
        return taken


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[None]:
    """The worker's loop, started; stopped and awaited on leaving (within 5 s, or fail)."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


async def _run_for(worker: Worker, seconds: float) -> None:
    async with running(worker):
        await asyncio.sleep(seconds)


async def test_a_full_batch_runs_again_at_once_and_a_partial_one_sleeps_until_the_poll():
    queue = Queue(items=25, batch=10)
    worker = Worker([Periodic("queue", queue.run, batch=10)], Wakeup(), poll=60)

    await _run_for(worker, 0.2)

    # 10, 10, 5: the partial third round left nothing due, so no fourth run looked again.
    assert (queue.items, queue.runs) == (0, 3)


async def test_work_committed_during_a_round_wakes_the_sleeping_loop_at_once():
    queue = Queue(items=5, batch=10)
    wakeup = Wakeup()
    worker = Worker([Periodic("queue", queue.run, batch=10)], wakeup, poll=60)
    async with running(worker):
        await asyncio.sleep(0.05)
        assert (queue.items, queue.runs) == (0, 1)

        queue.items = 3
        wakeup.poke()  # what a commit's notification does
        await asyncio.sleep(0.05)

    assert (queue.items, queue.runs) == (0, 2)


async def test_a_job_without_a_batch_runs_again_while_it_finds_work():
    queue = Queue(items=25, batch=10)
    worker = Worker([Periodic("queue", queue.run)], Wakeup(), poll=60)

    await _run_for(worker, 0.2)

    # It cannot tell a partial round from a full one: it looks once more and finds nothing.
    assert (queue.items, queue.runs) == (0, 4)


async def test_a_stop_ends_the_sleep_at_once_not_after_the_poll_interval():
    worker = Worker([Periodic("queue", Queue(items=0, batch=10).run, batch=10)], Wakeup(),
                    poll=60)

    await _run_for(worker, 0.05)  # fails if the stop waits for the 60 s poll


async def test_news_about_messages_runs_the_message_job_and_leaves_the_orders_job_asleep():
    orders, messages = Queue(items=0, batch=10), Queue(items=0, batch=10)
    wakeup = Wakeup()
    worker = Worker([Periodic("orders", orders.run, batch=10, wakes_on=ORDERS),
                     Periodic("messages", messages.run, batch=10,
                              wakes_on=MESSAGES)], wakeup, poll=60)
    async with running(worker):
        await asyncio.sleep(0.05)
        assert (orders.runs, messages.runs) == (1, 1)  # the first pass runs everything

        wakeup.poke(MESSAGES)  # as a HES callback's commit notifies
        await asyncio.sleep(0.05)
        assert (orders.runs, messages.runs) == (1, 2)

        wakeup.poke()  # news about everything, as a payment's commit notifies
        await asyncio.sleep(0.05)

    assert (orders.runs, messages.runs) == (2, 3)


async def test_a_job_asleep_for_other_news_still_runs_when_the_poll_interval_passes():
    orders = Queue(items=0, batch=10)
    wakeup = Wakeup()
    worker = Worker([Periodic("orders", orders.run, batch=10, wakes_on=ORDERS)],
                    wakeup, poll=0.1)

    await _run_for(worker, 0.35)

    assert orders.runs >= 3  # the first pass, then once per poll interval


def test_a_notification_payload_names_its_news_and_an_unknown_one_means_everything():
    assert parse_news("messages") == MESSAGES
    assert parse_news("messages,orders") == EVERYTHING
    assert parse_news("") == EVERYTHING
    assert parse_news("something-newer") == EVERYTHING
