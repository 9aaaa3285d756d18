"""A real Celery worker process for tests that need one (fault tests, end-to-end dispatch).

The worker runs `celery -A config worker` against the test database and Redis, on a queue
of its own, so parallel test runs never steal each other's tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    def __init__(self, queue: str, include: list[str], visibility_timeout: int, stall_seconds: int = 20):
        self.queue = queue
        self.name = queue  # the queue may be shared with the test's other workers; the name is not
        self.stall_seconds = stall_seconds
        self.include = include
        self.visibility_timeout = visibility_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / "test-results" / f"worker-{queue}.log"

    def _env(self) -> dict[str, str]:
        db = connection.settings_dict
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        env = dict(os.environ)
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        env.update({
            "DATABASE_URL": f"postgres://{auth}@{host}:{port}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_VISIBILITY_TIMEOUT": str(self.visibility_timeout),
            # A worker left deaf by a broker restart shuts itself down this soon (the fault tests'
            # supervisors then start another, as docker-compose.yml's restart policy does).
            "CELERY_WORKER_STALL_SECONDS": str(self.stall_seconds),
            # Tasks the worker itself sends (a chain's next link, a batch's hand-off) go to its queue.
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "DJANGO_SETTINGS_MODULE": "config.settings",
        })
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        return env

    @property
    def nodename(self) -> str:
        """Unique per worker, so a remote-control command reaches this one only."""
        return f"{self.name}@localhost"

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def start(self, timeout: float = 30) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        args = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queue,
                "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle",
                "--without-heartbeat", "--loglevel=INFO", "-n", self.nodename]
        for module in self.include:
            args += ["-I", module]
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Celery worker exited early; see {self.log_path}")
            if b"ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the Celery worker did not start in {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole worker (parent and pool children): a crash, no clean shutdown."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        # Truncate the log marker so a restart waits for its own "ready.".
        if self.log_path.exists():
            self.log_path.rename(self.log_path.with_suffix(f".{int(time.time() * 1000)}.log"))


def make_worker(include: list[str], visibility_timeout: int = 3600, stall_seconds: int = 20) -> WorkerProcess:
    return WorkerProcess(f"test-{uuid.uuid4().hex[:10]}", include, visibility_timeout, stall_seconds)
