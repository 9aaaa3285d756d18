#!/usr/bin/env python
"""Intake bot benchmark: simulated patients completing a 10-question questionnaire through
signed simulator webhooks to gunicorn, with a real Celery worker, on PostgreSQL + Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cr_intake_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/intake.py [--patients 1000] [--workers 2] [--celery-concurrency 2]

Every patient texts the keyword, then answers each question only once the previous question
was *sent* (a closed loop, like a person waiting for their phone): one poller reads how many
bot messages each patient has been sent (one query per tick for everyone), so the load
generator never floods the database with per-patient polls.

1. answers_per_s: ``--patients`` patients at once (``--in-flight`` webhooks at a time);
   the clock stops when every submission is stored with its 10 answers and every bot message
   (intro+question 1, questions 2-10, the thank-you) is marked sent by the worker;
2. answer_to_next_p95_ms: a second cohort answers open loop at ``--rate`` answers/s; latency
   runs from the moment an answer was due to the next question's ``sent_at`` (same clock).

Prints key=value lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import (  # noqa: E402 (needs the path above)
    Autoanalyze,
    ensure_database,
    host_busy_seconds,
    host_loop_ms,
    process_tree,
)
from bench.loopback_client import Pool  # noqa: E402
from bench.webhooks import cpu_seconds, free_port, percentile, postgres_pids, split_url, start_gunicorn  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SECRET = "bench-intake-simulator-secret"
QUESTIONS = 10
ANSWERS = ["Ada", "42", "3/14/1985", "no", "2", "1,3", "(415) 555-0142", "ada@example.org", "Nothing", "yes"]


def questionnaire_questions() -> list[dict]:
    return [
        {"key": "first_name", "kind": "text", "prompt": "First name?"},
        {"key": "age", "kind": "number", "prompt": "Age?", "min_value": 0, "max_value": 130},
        {"key": "dob", "kind": "date", "prompt": "Date of birth?"},
        {"key": "smoker", "kind": "yes_no", "prompt": "Do you smoke?"},
        {
            "key": "visit",
            "kind": "single_choice",
            "prompt": "Visit?",
            "choices": ["New", "Follow-up", "Other"],
        },
        {
            "key": "allergies",
            "kind": "multiple_choice",
            "prompt": "Allergies?",
            "choices": ["Penicillin", "Latex", "Peanuts"],
        },
        {"key": "emergency", "kind": "phone", "prompt": "Emergency contact number?"},
        {"key": "email", "kind": "email", "prompt": "E-mail?"},
        {"key": "notes", "kind": "text", "prompt": "Anything else?"},
        {"key": "consent", "kind": "yes_no", "prompt": "May we text you reminders?"},
    ]


def setup():
    """A fresh bench organisation, simulator channel and questionnaire (set-up spans tenants)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django_scopes import scope, scopes_disabled

    from accounts.actor import Actor
    from accounts.models import Organization
    from campaigns.intake import services
    from messaging.models import Channel

    with scopes_disabled():
        org = Organization.objects.create(name="Bench Intake", slug=f"bench-intake-{time.time_ns()}")
    with scope(organization=org):
        channel = Channel.objects.create(
            organization=org,
            name="Bench simulator",
            provider="simulator",
            address="+15005550006",
            webhook_secret=SECRET,
            rate_limit_per_second=100000,
        )
        actor = Actor.system("bench:intake", organization_id=org.pk)
        # A clinic sending at this volume pays for it: Enterprise (100,000 segments included, no
        # trial, so active at once). Billing's default, a trial of Growth, refuses beyond 10,000
        # (the full run sends ~12,650) and serialises the organisation's sends on its subscription.
        from billing.services import start_trial

        start_trial(organization=org, plan_code="enterprise")
        keyword = f"BENCH{org.pk}"
        questionnaire = services.create_questionnaire(
            actor=actor, name="Bench", start_keywords=keyword, update_contact=False
        )
        for question in questionnaire_questions():
            services.add_question(questionnaire=questionnaire, actor=actor, **question)
    return org, channel, keyword


def signed(body: dict) -> tuple[bytes, dict[str, str]]:
    from messaging.providers.simulator import SIGNATURE_HEADER, sign_body

    raw = json.dumps(body, separators=(",", ":")).encode()
    return raw, {"Content-Type": "application/json", SIGNATURE_HEADER: sign_body(SECRET, raw)}


class SentCounter:
    """Bot messages marked sent, per patient phone index, read incrementally: each poll reads the
    rows from the oldest bot message not yet seen sent (a primary-key range), not the whole
    organisation's messages (that aggregate, every 50 ms, took a PostgreSQL core from the system
    under test as the table grew)."""

    MARGIN = 500  # ids: more than the transactions in flight at once, by far

    def __init__(self, org_id: int, channel_id: int):
        self.org_id, self.channel_id = org_id, channel_id
        self.floor = 0
        self.counted: set[int] = set()
        self.counts: dict[str, int] = defaultdict(int)

    def poll(self) -> dict[str, int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, remote_address_index, status FROM messaging_message WHERE organization_id = %s "
                "AND channel_id = %s AND origin = 'intake' AND id >= %s ORDER BY id",
                [self.org_id, self.channel_id, self.floor],
            )
            rows = cursor.fetchall()
        floor = None
        for pk, index, status in rows:
            if status == "sent":
                if pk not in self.counted:
                    self.counted.add(pk)
                    self.counts[index] += 1
            elif floor is None:
                floor = pk
        if rows:
            # Ids are taken at INSERT and rows appear at COMMIT, out of order: a lower id may still
            # arrive, so the floor stays a margin behind the newest id (the set stops double counts).
            newest = rows[-1][0] + 1
            self.floor = min(floor if floor is not None else newest, newest - self.MARGIN)
        return dict(self.counts)


# What the answers read and write, ANALYZEd as autovacuum would (bench/common.py): without it the
# bench organisation, created after the last ANALYZE, looks empty to the planner.
ANALYZED = ("messaging_message, messaging_conversation, campaigns_intakesession, contacts_contact, "
            "billing_usagecounter")


class Patients:
    """Phones, their blind indexes, and events fired when the n-th bot message to one was sent."""

    def __init__(self, org_id: int, start: int, count: int):
        from accounts import blind_index

        self.phones = [f"+1415555{n:04d}" for n in range(start, start + count)]
        self.index = {p: blind_index.phone_index(org_id, p) for p in self.phones}
        self.seen: dict[str, int] = defaultdict(int)
        self.waiters: dict[tuple[str, int], asyncio.Event] = {}

    def wait_for(self, phone: str, count: int) -> asyncio.Event:
        event = self.waiters.setdefault((phone, count), asyncio.Event())
        if self.seen[self.index[phone]] >= count:
            event.set()
        return event

    def update(self, counts: dict[str, int]) -> None:
        self.seen.update(counts)
        for (phone, count), event in list(self.waiters.items()):
            if self.seen[self.index[phone]] >= count:
                event.set()
                del self.waiters[(phone, count)]


async def poll(patients: Patients, org_id: int, channel_id: int, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    counter = SentCounter(org_id, channel_id)
    while not stop.is_set():
        try:
            patients.update(await loop.run_in_executor(None, counter.poll))
        except Exception as error:  # a lost poll must not strand every waiting patient
            print(f"poll_error={type(error).__name__}: {error}", file=sys.stderr)
        await asyncio.sleep(0.05)


async def deliver(pool: Pool, path: str, raw: bytes, headers: dict[str, str], statuses: Counter,
                  gate: asyncio.Semaphore | None = None) -> bool:
    """POST until answered 200, as a provider retries a webhook (same id: stored once). Without
    it a patient whose answer was lost would wait for the next question forever."""
    for attempt in range(5):
        if gate is None:
            status = await pool.post(path, raw, headers)
        else:
            async with gate:
                status = await pool.post(path, raw, headers)
        if status == 200:
            return True
        statuses[status] += 1
        await asyncio.sleep(0.2 * 2**attempt)
    return False


async def closed_loop(
    url: str,
    patients: Patients,
    keyword: str,
    org_id: int,
    channel_id: int,
    in_flight: int,
    time_limit: float,
) -> tuple[int, float]:
    host, port, path = split_url(url)
    pool, gate, stop = Pool(host, port), asyncio.Semaphore(in_flight), asyncio.Event()
    failures = 0
    statuses: Counter = Counter()

    async def post(body: dict) -> None:
        nonlocal failures
        raw, headers = signed(body)
        if not await deliver(pool, path, raw, headers, statuses, gate):
            failures += 1

    async def patient(n: int, phone: str) -> None:
        await asyncio.sleep(random.random() * 2)  # arrival jitter, not security
        await post({"id": f"bench-{phone}-0", "from": phone, "to": "+15005550006", "body": keyword})
        for k, answer in enumerate(ANSWERS, start=1):
            await patients.wait_for(phone, k).wait()
            await post({"id": f"bench-{phone}-{k}", "from": phone, "to": "+15005550006", "body": answer})
        await patients.wait_for(phone, QUESTIONS + 1).wait()  # the thank-you was sent

    poller = asyncio.create_task(poll(patients, org_id, channel_id, stop))
    started = time.perf_counter()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(patient(n, p) for n, p in enumerate(patients.phones))), time_limit
        )
    except TimeoutError:
        waiting = sorted(patients.waiters)[:10]
        print(f"timed_out=1 waiting={waiting} seen={[patients.seen[patients.index[p]] for p, _ in waiting]}",
              file=sys.stderr)
        raise
    finally:
        if statuses:
            print("webhook_retried_statuses=" + ",".join(f"{k}:{v}" for k, v in sorted(statuses.items())))
    seconds = time.perf_counter() - started
    stop.set()
    await poller
    pool.close()
    return failures, seconds


async def open_loop(
    url: str, patients: Patients, keyword: str, org_id: int, channel_id: int, rate: float
) -> dict[tuple[str, int], float]:
    """Answers due at a fixed rate overall (each patient answers every len/rate seconds)."""
    host, port, path = split_url(url)
    pool, stop = Pool(host, port), asyncio.Event()
    statuses: Counter = Counter()
    due: dict[tuple[str, int], float] = {}
    count = len(patients.phones)
    interval = count / rate

    async def patient(n: int, phone: str) -> None:
        raw, headers = signed({"id": f"rate-{phone}-0", "from": phone, "to": "+15005550006", "body": keyword})
        await deliver(pool, path, raw, headers, statuses)
        await patients.wait_for(phone, 1).wait()
        origin = t0 + n / rate
        for k, answer in enumerate(ANSWERS, start=1):
            at = origin + (k - 1) * interval
            await asyncio.sleep(max(0.0, at - time.time()))
            due[(phone, k)] = at
            raw, headers = signed(
                {"id": f"rate-{phone}-{k}", "from": phone, "to": "+15005550006", "body": answer}
            )
            await deliver(pool, path, raw, headers, statuses)
        await patients.wait_for(phone, QUESTIONS + 1).wait()

    poller = asyncio.create_task(poll(patients, org_id, channel_id, stop))
    t0 = time.time() + 5.0  # everyone has their first question before the paced answers begin
    await asyncio.gather(*(patient(n, p) for n, p in enumerate(patients.phones)))
    stop.set()
    await poller
    pool.close()
    if statuses:
        print("paced_retried_statuses=" + ",".join(f"{k}:{v}" for k, v in sorted(statuses.items())))
    return due


def next_question_sent_at(org_id: int, channel_id: int, patients: Patients) -> dict[tuple[str, int], float]:
    """(phone, k) → when the message that followed answer k was sent (k-th+1 bot message)."""
    from django.db import connection

    by_index = {v: k for k, v in patients.index.items()}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT remote_address_index, sent_at FROM messaging_message WHERE organization_id = %s "
            "AND channel_id = %s AND origin = 'intake' ORDER BY remote_address_index, id",
            [org_id, channel_id],
        )
        rows = cursor.fetchall()
    result, position = {}, defaultdict(int)
    for index, sent_at in rows:
        phone = by_index.get(index)
        if phone is None or sent_at is None:
            continue
        k = position[phone]
        position[phone] += 1
        if k >= 1:
            result[(phone, k)] = sent_at.timestamp()
    return result


def verify(org_id: int, expected: int) -> tuple[int, int]:
    """(submissions with all 10 answers, bot messages not sent) for the bench organisation."""
    from django.db import connection
    from django_scopes import scope

    from accounts.models import Organization
    from campaigns.intake.models import Submission

    connection.close()
    org = Organization.objects.get(pk=org_id)
    with scope(organization=org):
        complete = sum(1 for s in Submission.objects.all() if len(s.answers) == QUESTIONS)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM messaging_message WHERE organization_id = %s AND origin = 'intake' "
            "AND status <> 'sent'",
            [org_id],
        )
        unsent = cursor.fetchone()[0]
    return complete, unsent


def start_worker(env: dict[str, str], concurrency: int) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        f"--concurrency={concurrency}",
        "--pool=prefork",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=WARNING",
    ]
    return subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=16, help="webhook requests in flight at once")
    parser.add_argument("--time-limit", type=float, default=900.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--rate-patients", type=int, default=150)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cr_intake_bench")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    if "127.0.0.1" not in database_url and "localhost" not in database_url:
        sys.exit("The bench only runs against a local database.")
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_ENV="development",
        DEBUG="false",
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    ensure_database(database_url)
    port = free_port()
    os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    org, channel, keyword = setup()
    from messaging.channel_config import webhook_path

    url = f"http://127.0.0.1:{port}{webhook_path(channel)}"
    env = dict(os.environ, ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING", DB_CONN_MAX_AGE="600")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = start_gunicorn(port, args.workers, env, ["--worker-class", "sync"])
    worker = start_worker(env, args.celery_concurrency)
    try:
        time.sleep(5)  # the worker connects to Redis
        print(
            f"cpus={os.cpu_count()} gunicorn_workers={args.workers} "
            f"celery_concurrency={args.celery_concurrency} patients={args.patients} questions={QUESTIONS}"
        )
        print(f"host_loop_ms_start={host_loop_ms():.0f}")
        patients = Patients(org.pk, 0, args.patients)
        watched = {"server": process_tree(server.pid), "worker": process_tree(worker.pid)}
        cpu_before = {name: cpu_seconds(pids) for name, pids in watched.items()}
        # PostgreSQL's processes, counted per pid: backends opened during the run count in full.
        postgres_before = {pid: cpu_seconds([pid]) for pid in postgres_pids()}
        busy_before = host_busy_seconds()
        with Autoanalyze(ANALYZED, every=15):
            failures, seconds = asyncio.run(
                closed_loop(url, patients, keyword, org.pk, channel.pk, args.in_flight, args.time_limit)
            )
        cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in watched.items()}
        cpu["postgres"] = sum(cpu_seconds([pid]) - postgres_before.get(pid, 0.0) for pid in postgres_pids())
        # The whole host: Redis and this load generator as well.
        cpu["host"] = host_busy_seconds() - busy_before
        complete, unsent = verify(org.pk, args.patients)
        answers = args.patients * QUESTIONS
        print(
            f"webhook_failures={failures} submissions_complete={complete} bot_messages_unsent={unsent} "
            f"seconds={seconds:.1f}"
        )
        print(" ".join(f"cpu_ms_per_answer_{name}={used * 1000 / answers:.2f}" for name, used in cpu.items()))
        if complete != args.patients or failures:
            sys.exit("not every patient completed: the throughput number would be wrong")
        print(f"answers_per_s={answers / seconds:.1f}")

        cohort = Patients(org.pk, args.patients, args.rate_patients)
        with Autoanalyze(ANALYZED, every=15):
            due = asyncio.run(open_loop(url, cohort, keyword, org.pk, channel.pk, args.rate))
        sent = next_question_sent_at(org.pk, channel.pk, cohort)
        latencies = [(sent[key] - at) * 1000 for key, at in due.items() if key in sent]
        print(f"paced_rate={args.rate:.0f} paced_answers={len(due)} measured={len(latencies)}")
        if latencies:
            print(f"answer_to_next_p50_ms={statistics.median(latencies):.0f}")
            print(f"answer_to_next_p95_ms={percentile(latencies, 95):.0f}")
        print(f"host_loop_ms_end={host_loop_ms():.0f}")
    finally:
        server.terminate()
        worker.terminate()
        server.wait(timeout=20)
        worker.wait(timeout=30)


if __name__ == "__main__":
    main()
