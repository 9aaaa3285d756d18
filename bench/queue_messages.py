#!/usr/bin/env python
"""Batch outbound benchmark: 100,000 messages through ``queue_messages`` while the same
organisation's inbound webhooks keep arriving.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cr_queue_bench REDIS_URL=redis://127.0.0.1:6379/8 \
        .venv/bin/python bench/queue_messages.py [--messages 100000] [--rate 50] [--workers 2]

1. Set-up (not timed): a bench organisation with a Twilio channel and ``--messages`` contacts
   (reused by later runs), gunicorn serving the webhook URL (bench/webhooks.py's server), one
   inbound message per sender so their contacts and conversations exist.
2. ``webhook_p99_idle_ms``: signed Twilio inbound webhooks of the same organisation at
   ``--rate`` req/s for a few seconds, open loop, from a second process (bench/loopback_client.py),
   before the batch — the baseline.
3. The batch, timed: ``queue_messages`` for every contact (a per-recipient rendered body and an
   idempotency key each, as a campaign sends them), as the system actor ``campaign-dispatcher``:
   consent and address checks, bulk encryption, multi-row inserts, one audit event per chunk, and
   the hand-off of each committed chunk to the broker (Redis: ``dispatch_batch`` tasks; no worker
   consumes them — the provider sending is not part of this bench; the queue is purged after).
   Meanwhile the load process keeps posting webhooks at ``--rate`` req/s: ``webhook_p99_during_batch_ms``.
4. Checks: stored rows = queued results = ``--messages``; the organisation's audit chain verifies.

Prints key=value lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, process_tree  # noqa: E402 (needs the path above)
from bench.webhooks import (  # noqa: E402
    SENDERS,
    build_requests,
    closed_loop,
    cpu_seconds,
    free_port,
    percentile,
    postgres_pids,
    setup_channel,
    split_url,
    start_gunicorn,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


# --- the load process: open-loop webhooks until told to stop ------------------------------------
def run_load(url: str, rate: float, first: int) -> None:
    """Child process: post signed webhooks at ``rate`` req/s (open loop) until stdin says "stop";
    print the latencies (ms) as one JSON line."""
    import django

    django.setup()
    from bench.loopback_client import Pool

    stop = threading.Event()

    def wait_for_stop():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    latencies: list[float] = []
    failed = 0

    async def main():
        nonlocal failed
        host, port, path = split_url(url)
        pool = Pool(host, port)
        pending = []

        async def one(scheduled: float, body: bytes, headers: dict[str, str]):
            nonlocal failed
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                status = await asyncio.wait_for(pool.post(path, body, headers), 30)
            except (OSError, TimeoutError):
                failed += 1
                return
            if status == 200:
                latencies.append((time.perf_counter() - scheduled) * 1000)
            else:
                failed += 1

        print("ready", flush=True)
        t0 = time.perf_counter() + 0.05
        n = 0
        while not stop.is_set():
            # Requests are signed a second ahead of their time: signing never delays a send.
            batch = build_requests(url, int(rate), first + n)
            for i, (body, headers) in enumerate(batch):
                pending.append(asyncio.ensure_future(one(t0 + (n + i) / rate, body, headers)))
            n += len(batch)
            await asyncio.sleep(max(0.0, t0 + n / rate - 0.5 - time.perf_counter()))
        # Only what was due before "stop" counts; the rest is cancelled unsent.
        due = time.perf_counter()
        for task, index in zip(pending, range(n), strict=True):
            if t0 + index / rate > due:
                task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        pool.close()

    asyncio.run(main())
    print(json.dumps({"latencies": latencies, "failed": failed}), flush=True)


class LoadProcess:
    def __init__(self, url: str, rate: float, first: int, env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, __file__, "--load-only", url, "--rate", str(rate),
                                      "--first", str(first)], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the load process did not start")

    def stop(self) -> tuple[list[float], int]:
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        out, _ = self.proc.communicate(timeout=120)
        result = json.loads(out.strip().splitlines()[-1])
        return result["latencies"], result["failed"]


def _verb(sql: str | None) -> str:
    """The statement's verb and table (never its values: bound values are inlined client-side)."""
    words = (sql or "").replace('"', "").split()
    return " ".join(words[:3]) if words[:1] != ["WITH"] else "WITH (audit append)"


class LockWaitSampler:
    """Samples pg_stat_activity every 0.2 s: how many backends of the bench database wait on a lock
    (a webhook behind the batch's audit-chain head would show here)."""

    def __init__(self, database_url: str):
        import psycopg

        self.most = self.hits = self.samples = 0
        self.batch_backend: int | None = None  # the batch's PostgreSQL pid, to tell who blocks whom
        self.kinds: dict[str, int] = {}  # "waiting statement <- blocking one" (verbs, tables)
        self._stop = threading.Event()
        self._conn = psycopg.connect(database_url, autocommit=True)
        self._name = database_url.rsplit("/", 1)[1]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.2):
            rows = self._conn.execute(
                "SELECT w.wait_event, left(w.query, 40), left(b.query, 40), b.pid FROM pg_stat_activity w "
                "LEFT JOIN pg_stat_activity b ON b.pid = (pg_blocking_pids(w.pid))[1] "
                "WHERE w.datname = %s AND w.wait_event_type = 'Lock'", [self._name]).fetchall()
            self.samples += 1
            self.hits += bool(rows)
            self.most = max(self.most, len(rows))
            for event, waiting, blocking, blocker in rows:
                who = "batch" if blocker == self.batch_backend else "webhook"
                kind = f"{event}: {_verb(waiting)} <- {who} {_verb(blocking)}"
                self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


# --- set-up ----------------------------------------------------------------------------------------
def bench_organization(port: int):
    """A fresh bench organisation and Twilio channel (bench/webhooks.py's), paced at 1,000/s."""
    from django_scopes import scopes_disabled

    org, channel = setup_channel(port)  # on a paid plan: metered, never refused (bench.common)
    with scopes_disabled():  # bench set-up
        channel.rate_limit_per_second = 1000
        channel.save(update_fields=["rate_limit_per_second"])
    return org, channel


def make_contacts(org, count: int) -> list[int]:
    """``count`` contacts with valid, distinct phones, written in bulk (bench set-up, not timed)."""
    from accounts.blind_index import indexer_for
    from accounts.crypto import Ciphertext, sealer_for
    from contacts.models import Contact

    sealer, indexer = sealer_for(org.pk), indexer_for(org.pk)
    phone_context = Contact._meta.get_field("phone").crypto_context
    name_context = Contact._meta.get_field("first_name").crypto_context
    ids: list[int] = []
    for start in range(0, count, 5000):
        rows = []
        for n in range(start, min(count, start + 5000)):
            phone = f"+1312{3000000 + n:07d}"
            rows.append(Contact(organization=org, phone=Ciphertext(sealer.seal(phone, phone_context)),
                                phone_index=indexer.phone(phone),
                                first_name=Ciphertext(sealer.seal(f"Patient{n}", name_context))))
        ids += [c.pk for c in Contact.objects.bulk_create(rows, batch_size=1000)]
    return ids


def purge_broker() -> int:
    from config.celery import app

    return app.control.purge()


# --- the batch -------------------------------------------------------------------------------------
def queue_batch(org, channel, contact_ids: list[int], run: str, waits=None):
    from django.db import connection
    from django_scopes import scope

    from accounts.actor import Actor
    from messaging.models import Message
    from messaging.services.outbound import Recipient, queue_messages

    recipients = [Recipient(contact_id=cid, idempotency_key=f"bench-{run}-{cid}",
                            body=f"Reminder {n}: your appointment is tomorrow at 9:00. Reply C to confirm.")
                  for n, cid in enumerate(contact_ids)]
    actor = Actor.system("campaign-dispatcher", organization_id=org.pk)
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = [cursor.fetchone()[0]]  # the PostgreSQL process serving this batch (same host)
    if waits is not None:
        waits.batch_backend = backend[0]
    cpu_before = cpu_seconds(backend)
    with scope(organization=org):
        started = time.perf_counter()
        result = queue_messages(actor=actor, channel=channel, recipients=recipients,
                                origin=Message.Origin.CAMPAIGN)
        seconds = time.perf_counter() - started
    return result, seconds, cpu_seconds(backend) - cpu_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=50.0, help="inbound webhooks a second")
    parser.add_argument("--idle-seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers serving the webhooks")
    parser.add_argument("--load-only", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_only:
        run_load(args.load_only, args.rate, args.first)
        return

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cr_queue_bench")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")
    if "127.0.0.1" not in database_url and "localhost" not in database_url:
        sys.exit("The bench only runs against a local database.")
    os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url, DJANGO_ENV="development", DEBUG="false",
                      CELERY_TASK_ALWAYS_EAGER="false")
    ensure_database(database_url)
    port = free_port()
    os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    org, channel = bench_organization(port)
    from django.db import connection
    from django_scopes import scopes_disabled

    from audit.verification import verify_chain
    from messaging.channel_config import webhook_path
    from messaging.models import Message

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE messaging_message")
    contact_ids = make_contacts(org, args.messages)
    purge_broker()
    url = f"http://127.0.0.1:{port}{webhook_path(channel)}"
    env = dict(os.environ, ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING", DB_CONN_MAX_AGE="600")
    server = start_gunicorn(port, args.workers, env, ["--worker-class", "sync"])
    try:
        print(f"cpus={os.cpu_count()} gunicorn_workers={args.workers} messages={args.messages} "
              f"webhook_rate={args.rate:.0f} chunk={os.environ.get('MESSAGING_QUEUE_CHUNK_SIZE', 1000)}")
        ok, failed, _ = asyncio.run(closed_loop(url, build_requests(url, SENDERS, 0), 8, 60))
        print(f"warmup_ok={ok} warmup_failed={failed}")

        load = LoadProcess(url, args.rate, SENDERS, env)
        time.sleep(args.idle_seconds)
        idle, idle_failed = load.stop()
        print(f"idle_webhooks_ok={len(idle)} idle_failed={idle_failed} "
              f"webhook_p50_idle_ms={statistics.median(idle):.1f}")
        print(f"webhook_p99_idle_ms={percentile(idle, 99):.1f}")

        load = LoadProcess(url, args.rate, SENDERS + 100_000, env)
        watched = {"queue": [os.getpid()], "webhook_server": process_tree(server.pid),
                   "postgres": postgres_pids()}
        cpu_before = {name: cpu_seconds(pids) for name, pids in watched.items()}
        waits = LockWaitSampler(database_url)
        result, seconds, backend_cpu = queue_batch(org, channel, contact_ids, run=str(time.time_ns()),
                                                   waits=waits)
        waits.stop()
        cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in watched.items()}
        during, during_failed = load.stop()
        with scopes_disabled():
            stored = Message.objects.filter(channel=channel, direction="outbound").count()
        print(f"queued={result.queued} refused={result.refused} duplicates={result.duplicates} "
              f"stored={stored} seconds={seconds:.2f}")
        if stored != result.queued or result.queued != args.messages:
            sys.exit(f"stored rows ({stored}) / queued results ({result.queued}) differ from {args.messages}")
        print(f"queue_per_s={result.queued / seconds:.0f}")
        print(f"during_webhooks_ok={len(during)} during_failed={during_failed} "
              f"webhook_p50_during_batch_ms={statistics.median(during):.1f}")
        print(f"webhook_p99_during_batch_ms={percentile(during, 99):.1f}")
        # CPU over the batch (PostgreSQL: all its processes, other databases' work included).
        print(" ".join(f"cpu_s_{name}={used:.1f}" for name, used in cpu.items()),
              f"cpu_s_batch_backend={backend_cpu:.1f} load_avg_1m={os.getloadavg()[0]:.1f}")
        # What the batch costs whatever else the machine runs: its process plus its PostgreSQL backend.
        per_message = (cpu["queue"] + backend_cpu) / max(result.queued, 1) * 1e6
        print(f"batch_cpu_us_per_message={per_message:.0f} "
              f"queue_per_cpu_s={result.queued / max(cpu['queue'] + backend_cpu, 1e-9):.0f}")
        print(f"backends_waiting_on_locks_max={waits.most} lock_wait_samples={waits.hits}/{waits.samples}")
        for kind, count in sorted(waits.kinds.items(), key=lambda item: -item[1])[:5]:
            print(f"lock_wait[{kind}]={count}")
    finally:
        server.terminate()
        server.wait(timeout=20)
        purge_broker()
    report = verify_chain(f"org:{org.pk}")  # after the server stopped: nothing appends meanwhile
    print(f"audit_chain_ok={report.ok} audit_events={report.events}")


if __name__ == "__main__":
    main()
