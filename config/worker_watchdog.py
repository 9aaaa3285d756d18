"""A worker that stops consuming exits, so its supervisor (``restart: unless-stopped``) starts a
fresh one.

Celery's Redis consumer can come back from a lost broker connection alive but deaf: the process
runs, answers nothing, and the tasks wait in Redis until someone restarts it (celery/celery
#8030, #8091, #10205, still reported against 5.6). A campaign must not stall on that. The
watchdog, a thread in the worker's main process, looks every few seconds at what only a stuck
consumer combines: messages waiting in one of its queues, room in the worker to take one, and
nothing received for ``CELERY_WORKER_STALL_SECONDS``. Then it asks for a warm shutdown and,
should the main loop not manage even that, ends the process. Unacknowledged tasks go back to
the queue (late acks), and the dispatch paths never send a claimed message twice.

Redis only: with another broker (or eager tasks) the watchdog stays off.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from celery import bootsteps
from celery.signals import task_received
from celery.worker import state
from kombu.transport import redis as redis_transport

logger = logging.getLogger(__name__)

def queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps a queue's messages in: one per priority step (the bare name
    for the default priority), named as kombu's Redis channel names them."""
    return [queue if step == 0 else f"{queue}{redis_transport.Channel.sep}{step}"
            for step in redis_transport.PRIORITY_STEPS]


class Watchdog:
    """The decision, apart from the thread and the clock, so a test can drive it."""

    def __init__(self, stall_seconds: float, now: float):
        self.stall_seconds = stall_seconds
        self.last_received = now

    def received(self, now: float) -> None:
        self.last_received = now

    def stalled(self, *, now: float, waiting: int, reserved: int, capacity: int) -> bool:
        """Deaf, not busy: messages wait, the worker could take one, and none came for too long."""
        return waiting > 0 and reserved < capacity and now - self.last_received >= self.stall_seconds


class ConsumerWatchdog(bootsteps.StartStopStep):
    """Worker bootstep: starts the watchdog thread with the worker (before the consumer, whose
    start is the event loop and does not return)."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        conf = worker.app.conf
        self.stall_seconds = float(getattr(conf, "worker_stall_seconds", None) or 0)
        self.enabled = self.stall_seconds > 0 and str(conf.broker_url or "").startswith(("redis://", "rediss://"))
        self.stopping = threading.Event()
        super().__init__(worker, **kwargs)

    def start(self, worker) -> None:
        # The queues it was started for: a queue cancelled on purpose later (remote control) is
        # still one it must not go deaf to.
        self.queues = list(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
        self.watchdog = Watchdog(self.stall_seconds, time.monotonic())
        task_received.connect(self._on_received, weak=False)
        threading.Thread(target=self._watch, args=(worker,), name="consumer-watchdog", daemon=True).start()

    def stop(self, worker) -> None:
        self.stopping.set()

    def _on_received(self, **_kwargs) -> None:
        self.watchdog.received(time.monotonic())

    def _watch(self, worker) -> None:
        import redis

        client = redis.Redis.from_url(worker.app.conf.broker_url, socket_connect_timeout=2, socket_timeout=2)
        interval = max(1.0, self.stall_seconds / 10)
        while not self.stopping.wait(interval):
            try:
                waiting = self._waiting(client)
            except redis.RedisError:
                continue  # the broker itself is away: the consumer's own retries deal with that
            if self.watchdog.stalled(now=time.monotonic(), waiting=waiting,
                                     reserved=len(state.reserved_requests), capacity=worker.concurrency):
                self._restart(waiting)
                return

    def _waiting(self, client) -> int:
        with client.pipeline(transaction=False) as pipe:
            for name in self.queues:
                for key in queue_keys(name):
                    pipe.llen(key)
            return sum(pipe.execute())

    def _restart(self, waiting: int) -> None:
        logger.error("The worker received no task for %.0f s while %d wait in its queues: its broker "
                     "consumer is stuck. Shutting down for the supervisor to start a fresh worker.",
                     self.stall_seconds, waiting)
        os.kill(os.getpid(), signal.SIGTERM)
        if not self.stopping.wait(min(30.0, self.stall_seconds)):
            logger.error("The worker did not shut down: ending the process.")
            os._exit(1)
