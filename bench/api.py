#!/usr/bin/env python
"""Partner-API benchmark: gunicorn on PostgreSQL, loaded from this process on loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cr_api_bench REDIS_URL=redis://127.0.0.1:6379/8 \
        .venv/bin/python bench/api.py [--workers 3] [--contacts 1000] [--seconds 15] [--concurrency 6]

Sets up a bench organisation with an all-scopes API key, ``--contacts`` contacts made by the
contacts service (encrypted, blind-indexed, tagged), conversations with messages, and the
same contacts as plain rows in a bench-only table (bench/api_peer: never in the product).
gunicorn runs the product with bench/api_settings.py, which only adds the peer endpoint
(/api/bench/v1/plain-contacts: the same base viewset, authentication, throttle, cursor
pagination, renderer and response fields, over the plain table: no decryption, no audit).

1. ``api_list_contacts_per_s``: pages of 100 contacts from /api/v1/contacts (decrypted, one
   audit event per page), closed loop; ``plain_drf_contacts_per_s`` the same against the peer;
   ``ratio`` = the first over the second (goal >= 0.5);
2. ``api_p99_ms``: mixed reads (list pages of 20, a contact, conversations, a thread's
   messages, channels, tags) at a fixed ``--rate`` (50 req/s), open loop (goal < 100 ms);
3. ``api_send_per_s``: ``POST /api/v1/conversations/{id}/reply``, each with its own
   ``Idempotency-Key``, closed loop (goal >= 200/s): every reply checked (consent, the plan),
   stored encrypted, audited, metered and handed to the broker (no worker runs: the queued
   dispatch tasks are dropped from the bench's Redis afterwards).

Throttling runs as in production (every request counted in Redis, its limit asked of the
organisation's plan), on a bench-only plan whose limit is far above the load (Enterprise allows
1,200 a minute). Every answer must be a 200
(201 for the replies), or the run fails. Prints key=value lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, host_loop_ms, process_tree  # noqa: E402 (needs the path above)
from bench.loopback_client import Pool  # noqa: E402
from bench.webhooks import cpu_seconds, free_port, percentile, postgres_pids, start_gunicorn  # noqa: E402

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.api_settings"

PAGE = 100


def setup(contacts: int) -> tuple[str, list[int], list[int]]:
    """A fresh bench organisation, its key, contacts (and their plain twins), conversations.

    Returns (plaintext key, contact ids, conversation ids). Bench set-up spans tenants on purpose.
    """
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection
    from django_scopes import scope, scopes_disabled

    from accounts.actor import Actor
    from accounts.api_keys import API_SCOPES, ApiKey
    from accounts.models import Organization
    from bench.api_peer.models import PlainApiContact
    from contacts.services import create_contact
    from messaging.models import Channel, Conversation, Message

    with connection.schema_editor() as editor:
        if PlainApiContact._meta.db_table not in connection.introspection.table_names():
            editor.create_model(PlainApiContact)
    from billing.models import Plan
    from billing.services import start_trial

    with scopes_disabled():
        org = Organization.objects.create(name="Bench API", slug=f"bench-api-{time.time_ns()}")
        _, key = ApiKey.objects.create_key(organization=org, name="Bench partner", scopes=sorted(API_SCOPES))
    # The plan's limit is not what is measured, but its look-up is (every request asks billing):
    # a plan of the bench database only, like Enterprise but with a limit no loop reaches.
    Plan.objects.update_or_create(code="bench-unthrottled", defaults=dict(
        name="Bench (unthrottled)", monthly_price=0, included_segments=100_000_000,
        overage_price_per_1000=600, api_requests_per_minute=100_000_000, feature_api=True,
        feature_whatsapp=True, feature_intake=True, feature_reminders=True, trial_days=0))
    start_trial(organization=org, plan_code="bench-unthrottled")
    actor = Actor.system("bench-setup", organization_id=org.pk)
    contact_ids, conversation_ids = [], []
    with scope(organization=org):
        channel = Channel.objects.create(organization=org, name="Bench SMS", provider="simulator",
                                         address="+15005550006", webhook_secret="bench-secret")
        plain = []
        for n in range(contacts):
            values = {"first_name": f"Patient{n}", "last_name": "Benchmark",
                      "phone": f"+1415{2000000 + n:07d}", "email": f"patient{n}@example.test",
                      "date_of_birth": "1970-01-01"}
            contact = create_contact(actor=actor, organization=org, tags=["bench"] if n % 3 == 0 else [],
                                     **values)
            contact_ids.append(contact.pk)
            plain.append(PlainApiContact(organization_id=org.pk, phone=contact.phone,
                                         timezone=contact.timezone,
                                         **{k: v for k, v in values.items() if k != "phone"}))
            if n < 50:
                conv = Conversation.objects.create(organization=org, channel=channel, contact=contact)
                conversation_ids.append(conv.pk)
                Message.objects.bulk_create([
                    Message(organization=org, conversation=conv, channel=channel, contact=contact,
                            direction="inbound", origin="patient", body=f"Message {m} of the bench thread.",
                            status="received") for m in range(20)])
        PlainApiContact.objects.bulk_create(plain)
    return key, contact_ids, conversation_ids


async def closed_loop(port: int, request, concurrency: int, seconds: float,
                      expect: int = 200) -> tuple[int, int, float]:
    """``concurrency`` clients sending ``request(n)`` — the n-th (method, path, body, headers) —
    back to back for ``seconds``; (answered ``expect``, answered otherwise, seconds taken)."""
    pool = Pool("127.0.0.1", port)
    ok = failed = sent = 0
    deadline = time.monotonic() + seconds

    async def runner():
        nonlocal ok, failed, sent
        while time.monotonic() < deadline:
            sent += 1
            if await pool.request(*request(sent)) == expect:
                ok += 1
            else:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    pool.close()
    return ok, failed, elapsed


def reply_requests(conversation_ids: list[int], headers: dict):
    """Replies round-robin over the conversations, each with a new Idempotency-Key."""
    body = json.dumps({"body": "Your results are ready: call us to book a follow-up."}).encode()

    def request(n: int):
        return ("POST", f"/api/v1/conversations/{conversation_ids[n % len(conversation_ids)]}/reply", body,
                {**headers, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})

    return request


async def open_loop(port: int, paths: list[str], headers: dict, rate: float) -> tuple[list[float], int]:
    pool = Pool("127.0.0.1", port)
    latencies: list[float] = []
    failed = 0

    async def one(scheduled: float, path: str):
        nonlocal failed
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        try:
            status = await asyncio.wait_for(pool.request("GET", path, b"", headers), 30)
        except (OSError, TimeoutError):  # the server could not keep up with the schedule
            failed += 1
            return
        if status == 200:
            latencies.append((time.perf_counter() - scheduled) * 1000)
        else:
            failed += 1

    t0 = time.perf_counter() + 0.2
    await asyncio.gather(*(one(t0 + i / rate, path) for i, path in enumerate(paths)))
    pool.close()
    return latencies, failed


def mixed_paths(count: int, contact_ids: list[int], conversation_ids: list[int]) -> list[str]:
    """A partner's typical reads, round-robin (deterministic)."""
    paths = []
    for n in range(count):
        kind = n % 6
        if kind == 0:
            paths.append("/api/v1/contacts?page_size=20")
        elif kind == 1:
            paths.append(f"/api/v1/contacts/{contact_ids[n % len(contact_ids)]}")
        elif kind == 2:
            paths.append("/api/v1/conversations?page_size=20")
        elif kind == 3:
            paths.append(f"/api/v1/conversations/{conversation_ids[n % len(conversation_ids)]}/messages")
        elif kind == 4:
            paths.append("/api/v1/channels")
        else:
            paths.append("/api/v1/tags")
    return paths


def measure(port: int, paths: dict[str, str], headers: dict, args, watched: dict) -> dict[str, float]:
    """Contacts per second through each path, in pages of PAGE (every answer must be a 200).

    The two cores are shared with other people's work, whose load comes and goes: the paths take
    turns in ``--rounds`` short rounds, so both see the same machine, and the totals are compared.
    """
    for path in paths.values():
        asyncio.run(closed_loop(port, lambda n, p=path: ("GET", p, b"", headers), args.concurrency,
                                2.0))  # warm every worker
    watched["postgres"] = postgres_pids()  # the workers' database connections exist by now
    watched["server"] = process_tree(watched["server"][0])  # and every worker was forked
    pages = dict.fromkeys(paths, 0)
    seconds = dict.fromkeys(paths, 0.0)
    cpu = {name: dict.fromkeys(watched, 0.0) for name in paths}
    for _round in range(args.rounds):
        for name, path in paths.items():
            before = {k: cpu_seconds(p) for k, p in watched.items()}
            ok, failed, elapsed = asyncio.run(closed_loop(port, lambda n, p=path: ("GET", p, b"", headers),
                                                          args.concurrency, args.seconds / args.rounds))
            if failed or not ok:
                sys.exit(f"{name}: {failed} answers were not 200 ({ok} were)")
            pages[name] += ok
            seconds[name] += elapsed
            for k, p in watched.items():
                cpu[name][k] += cpu_seconds(p) - before[k]
            print(f"round={_round} {name}_contacts_per_s={ok * PAGE / elapsed:.0f}")
    for name in paths:
        print(f"{name}_pages={pages[name]} {name}_seconds={seconds[name]:.2f} "
              + " ".join(f"{name}_cpu_ms_per_page_{k}={v * 1000 / pages[name]:.2f}"
                         for k, v in cpu[name].items()))
    return {name: pages[name] * PAGE / seconds[name] for name in paths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--gunicorn-args", default="--worker-class sync")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0, help="per path, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--rate-seconds", type=float, default=20.0)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cr_api_bench")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")
    if "127.0.0.1" not in database_url and "localhost" not in database_url:
        sys.exit("The bench only runs against a local database.")
    os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url, DJANGO_ENV="development", DEBUG="false")
    ensure_database(database_url)
    key, contact_ids, conversation_ids = setup(args.contacts)
    port = free_port()
    env = dict(os.environ, ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING", DB_CONN_MAX_AGE="600",
               DJANGO_SETTINGS_MODULE="bench.api_settings")
    server = start_gunicorn(port, args.workers, env, args.gunicorn_args.split())
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    try:
        print(f"cpus={os.cpu_count()} gunicorn_workers={args.workers} concurrency={args.concurrency} "
              f"contacts={args.contacts} page={PAGE}")
        print(f"host_loop_ms_start={host_loop_ms():.0f}")
        # PostgreSQL's CPU counts every database's work on the server (other suites included).
        watched = {"client": [os.getpid()], "server": process_tree(server.pid), "postgres": postgres_pids()}
        paths = {"api": f"/api/v1/contacts?page_size={PAGE}",
                 "plain": f"/api/bench/v1/plain-contacts?page_size={PAGE}"}
        rates = measure(port, paths, headers, args, watched)
        api, plain = rates["api"], rates["plain"]
        print(f"api_list_contacts_per_s={api:.0f}")
        print(f"plain_drf_contacts_per_s={plain:.0f}")
        print(f"ratio={api / plain:.2f}")

        paths = mixed_paths(int(args.rate * args.rate_seconds), contact_ids, conversation_ids)
        before = {k: cpu_seconds(p) for k, p in watched.items()}
        started = time.perf_counter()
        latencies, failed = asyncio.run(open_loop(port, paths, headers, args.rate))
        elapsed = time.perf_counter() - started
        cpu = {k: cpu_seconds(p) - before[k] for k, p in watched.items()}
        print(f"paced_rate={args.rate:.0f} paced_ok={len(latencies)} paced_failed={failed} "
              f"paced_seconds={elapsed:.1f} "
              + " ".join(f"paced_cpu_ms_per_request_{k}={v * 1000 / max(len(paths), 1):.2f}"
                         for k, v in cpu.items()))
        # How busy the machine was (other people's work shares the two cores).
        print(f"loadavg_1m={os.getloadavg()[0]:.1f}")
        if failed:
            sys.exit(f"{failed} paced reads failed")
        print(f"api_p50_ms={statistics.median(latencies):.1f}")
        print(f"api_p99_ms={percentile(latencies, 99):.1f}")

        before = {k: cpu_seconds(p) for k, p in watched.items()}
        sent, failed, elapsed = asyncio.run(closed_loop(port, reply_requests(conversation_ids, headers),
                                                        args.concurrency, args.seconds, expect=201))
        cpu = {k: cpu_seconds(p) - before[k] for k, p in watched.items()}
        redis.Redis.from_url(redis_url).delete("celery")  # the dispatch tasks no worker will run
        if failed or not sent:
            sys.exit(f"replies: {failed} answers were not 201 ({sent} were)")
        print(f"api_send_per_s={sent / elapsed:.0f} api_send_count={sent} "
              + " ".join(f"api_send_cpu_ms_per_reply_{k}={v * 1000 / sent:.2f}" for k, v in cpu.items()))
        print(f"host_loop_ms_end={host_loop_ms():.0f}")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
