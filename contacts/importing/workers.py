"""Worker processes for the importer's CPU-heavy step: chunks go out in order, results come back
in the same order.

Why os.fork and not multiprocessing: imports run inside Celery's prefork pool, whose children
are daemonic, and multiprocessing (Pool and ProcessPoolExecutor alike) refuses to start children
from a daemonic process. A fork also inherits the loaded code and the task itself, so only
chunks and results cross the pipes.

Rules for a worker:
- no database: the connection it inherits is the parent's socket, and one query or close()
  from here would corrupt the parent's session (the keys come with each chunk instead);
- it leaves through os._exit: no atexit hooks, no finalizer closing that inherited connection;
- a failure is reported by its exception type only: the text may quote a cell (PHI).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import itertools
import logging
import os
import pickle
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection

logger = logging.getLogger(__name__)
AHEAD = 2  # chunks in flight per worker: one being prepared while the next one waits
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size for unprivileged processes
_STOP = None


class WorkerFailed(Exception):
    """A worker failed or stopped. The message names the exception type, never its text."""


class WorkerStopped(WorkerFailed):
    """A worker process ended without answering (killed): nothing wrong with the rows themselves."""


def start(task: Callable, count: int) -> Workers | None:
    """`count` forked workers that each run `task(chunk)`, or None where a fork is not safe or fails."""
    if count < 1:
        return None
    if threading.active_count() > 1:
        # A fork copies only the calling thread: a lock that another thread holds at that
        # moment (logging, imports, OpenSSL) would stay locked forever in the child.
        logger.info("import workers not started (other threads are running): importing in-process")
        return None
    started: list[_Worker] = []
    try:
        for _ in range(count):
            started.append(_Worker.fork(task, started))
    except OSError as exc:
        logger.warning("import workers could not start (%s): importing in-process", type(exc).__name__)
        for worker in started:
            worker.stop(kill=True)
        return None
    return Workers(started)


class Workers:
    """Running workers; use as a context manager so they are always stopped and reaped."""

    def __init__(self, workers: list[_Worker]):
        self._workers = workers

    def __len__(self) -> int:
        return len(self._workers)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        with contextlib.ExitStack() as stops:  # every worker is stopped, even if one stop raises
            for worker in self._workers:
                stops.callback(worker.stop, kill=exc_type is not None)

    def map(self, chunks: Iterable) -> Iterator:
        """task(chunk) for each chunk, in order, with up to AHEAD chunks per worker in flight."""
        waiting: deque[_Worker] = deque()
        turns = itertools.cycle(self._workers)
        for chunk in chunks:
            worker = next(turns)
            worker.send(chunk)
            waiting.append(worker)
            if len(waiting) >= AHEAD * len(self._workers):
                yield waiting.popleft().receive()
        while waiting:
            yield waiting.popleft().receive()


class _Worker:
    def __init__(self, pid: int, tasks: Connection, results: Connection):
        self.pid = pid
        self.tasks = tasks
        self.results = results

    @classmethod
    def fork(cls, task: Callable, siblings: list[_Worker]) -> _Worker:
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        for fd in (task_write, result_write):
            _widen(fd)
        try:
            pid = os.fork()
        except OSError:
            for fd in (task_read, task_write, result_read, result_write):
                os.close(fd)
            raise
        if pid == 0:
            status = 1
            try:
                os.close(task_write)
                os.close(result_read)
                for sibling in siblings:  # else a sibling would never see its end of input
                    sibling.tasks.close()
                    sibling.results.close()
                _serve(task, Connection(task_read, writable=False), Connection(result_write, readable=False))
                status = 0
            finally:
                os._exit(status)
        os.close(task_read)
        os.close(result_write)
        return cls(pid, Connection(task_write, readable=False), Connection(result_read, writable=False))

    def send(self, chunk) -> None:
        try:
            self.tasks.send(chunk)
        except OSError:
            raise WorkerStopped("an import worker stopped") from None

    def receive(self):
        try:
            status, value = self.results.recv()  # unpickles what our own forked child sent
        except (EOFError, OSError):
            raise WorkerStopped("an import worker stopped") from None
        if status != "ok":
            raise WorkerFailed(f"an import worker failed ({value})")
        return value

    def stop(self, *, kill: bool) -> None:
        if kill:
            _kill(self.pid)
        self.tasks.close()  # end of input: an idle worker leaves
        self.results.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                pid, _status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return  # already reaped
            if pid:
                return
            if time.monotonic() > deadline:
                _kill(self.pid)
                deadline = float("inf")
            time.sleep(0.005)


def _widen(pipe_fd: int) -> None:
    # Room for a whole chunk: a send then returns without waiting for the other side to be
    # scheduled and read 64 KiB at a time (Linux only; elsewhere the default size just works slower).
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(pipe_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- inside a worker ---------------------------------------------------------------------------

def _serve(task: Callable, tasks: Connection, results: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler inherited from a Celery worker
    _leave_the_database_alone()
    # Everything inherited is long-lived: keep the collector from walking it over and over
    # (measured: a quarter of a worker's time) and from dirtying its copy-on-write pages.
    gc.freeze()
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    # A thread keeps reading chunks while this one prepares or sends a result, so the parent's
    # send never waits on a worker that is itself waiting for the parent to read.
    threading.Thread(target=_receive, args=(tasks, inbox), daemon=True).start()
    while (chunk := inbox.get()) is not _STOP:
        try:
            reply = pickle.dumps(("ok", task(chunk)), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            reply = pickle.dumps(("failed", type(exc).__name__))
        results.send_bytes(reply)


def _receive(tasks: Connection, inbox: queue.SimpleQueue) -> None:
    try:
        while True:
            inbox.put(tasks.recv())
    except (EOFError, OSError):
        pass
    finally:
        inbox.put(_STOP)


def _leave_the_database_alone() -> None:
    """Make the inherited connections unusable here without closing them."""
    from django.db import connections

    for conn in connections.all():
        # Keep the parent's connection object alive but out of reach: closing it, or letting it be
        # garbage-collected (which closes it), would end the parent's session too.
        _inherited.append(conn.connection)
        conn.connection = None
        conn.execute_wrappers.append(_refuse_query)


_inherited: list = []


def _refuse_query(execute, sql, params, many, context):
    raise RuntimeError("an import worker must not query the database")
