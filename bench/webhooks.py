#!/usr/bin/env python
"""Webhook benchmark: signed Twilio inbound SMS against gunicorn, from a second process, on loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cr_webhooks_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/webhooks.py [--workers 3] [--requests 3000] [--concurrency 24]

This process sets up a bench organisation with a Twilio channel, starts gunicorn (sync
workers, DJANGO_ENV=development, DEBUG off) on 127.0.0.1, and is itself the load generator
(asyncio with the lean client in bench/loopback_client.py): every request is a distinct
MessageSid from a pool of senders, signed with X-Twilio-Signature like Twilio does, so each
is verified and stored for real. It also prints the CPU each side spent per request.

1. warm-up: one message per sender (creates the contacts and conversations; not timed);
2. webhook_rps: closed loop, fixed concurrency, bounded in count and time; afterwards the
   stored row count must equal the acknowledged requests;
3. latency at a fixed 100 req/s, open loop (each request is sent at its scheduled time
   whatever the previous ones did; latency counts from the scheduled time);
4. the same on the reference commit, in this run (bench/reference.py): ``no_regression=``.

REDIS_URL is set so nothing runs eagerly in the request. Plain inbound messages queue no
task at all (the bench organisation has no questionnaire, campaign or partner endpoint, so no
inbound handler listens, and no keyword is sent), so nothing needs to consume the queue.
Prints key=value lines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, on_paid_plan, process_tree  # noqa: E402 (needs the path above)
from bench.loopback_client import Pool  # noqa: E402
from bench.reference import compare, reference_database, run_reference  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

AUTH_TOKEN = "bench-twilio-auth-token"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
SENDERS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_channel(port: int):
    """A fresh bench organisation and Twilio channel (bench set-up spans tenants on purpose)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django_scopes import scopes_disabled

    from accounts.models import Organization
    from messaging.models import Channel

    with scopes_disabled():
        org = Organization.objects.create(name="Bench Webhooks", slug=f"bench-webhooks-{time.time_ns()}")
        channel = Channel.objects.create(
            organization=org, name="Bench Twilio", provider="twilio", kind="sms",
            address="MG9f8e7d6c5b4a39281706f5e4d3c2b1a0", webhook_secret=AUTH_TOKEN,
            credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        )
    on_paid_plan(org)
    return org, channel


def stored_count(channel) -> int:
    from django.db import connection
    from django_scopes import scopes_disabled

    from messaging.models import Message

    connection.close()  # a fresh snapshot
    with scopes_disabled():
        return Message.objects.filter(channel=channel, direction="inbound").count()


def start_gunicorn(port: int, workers: int, env: dict[str, str], extra: list[str]) -> subprocess.Popen:
    args = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--log-level", "warning", "--access-logfile", "/dev/null", *extra]
    proc = subprocess.Popen(args, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc; 0 for ones that are gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def pids_named(prefix: str) -> list[int]:
    """Processes whose command name starts with ``prefix`` (Linux /proc)."""
    return [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and _comm(d).startswith(prefix)]


def postgres_pids() -> list[int]:
    return pids_named("postgres")


def _comm(proc: Path) -> str:
    try:
        return (proc / "comm").read_text()
    except OSError:
        return ""


def build_requests(url: str, count: int, start: int) -> list[tuple[bytes, dict[str, str]]]:
    """Signed Twilio inbound webhooks: distinct MessageSids, senders from a pool."""
    from tests.fakes.payloads import twilio_inbound_sms
    from tests.fakes.signing import twilio_signature

    built = []
    for n in range(start, start + count):
        sender = f"+1415555{n % SENDERS:04d}"
        pairs = twilio_inbound_sms(from_=sender, to="+14155550100",
                                   body=f"Bench message {n}: can I reschedule?", message_sid=f"SM{n:032x}")
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, pairs)}
        built.append((urlencode(pairs).encode(), headers))
    return built


async def closed_loop(url: str, batch, concurrency: int, time_limit: float) -> tuple[int, int, float]:
    host, port, path = split_url(url)
    pool = Pool(host, port)
    queue = list(reversed(batch))
    ok = failed = 0
    deadline = time.monotonic() + time_limit

    async def runner():
        nonlocal ok, failed
        while queue and time.monotonic() < deadline:
            body, headers = queue.pop()
            if await pool.post(path, body, headers) == 200:
                ok += 1
            else:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    pool.close()
    return ok, failed, seconds


async def open_loop(url: str, batch, rate: float) -> tuple[list[float], int]:
    host, port, path = split_url(url)
    pool = Pool(host, port)
    latencies: list[float] = []
    failed = 0

    async def one(scheduled: float, body: bytes, headers: dict[str, str]):
        nonlocal failed
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        try:
            status = await asyncio.wait_for(pool.post(path, body, headers), 30)
        except (OSError, TimeoutError):  # the server could not keep up with the schedule
            failed += 1
            return
        if status == 200:
            latencies.append((time.perf_counter() - scheduled) * 1000)
        else:
            failed += 1

    t0 = time.perf_counter() + 0.2
    await asyncio.gather(*(one(t0 + i / rate, body, headers) for i, (body, headers) in enumerate(batch)))
    pool.close()
    return latencies, failed


def split_url(url: str) -> tuple[str, int, str]:
    parsed = urlsplit(url)
    return parsed.hostname, parsed.port, parsed.path


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--gunicorn-args", default="--worker-class sync",
                        help="more gunicorn options, e.g. '--worker-class gthread --threads 4'")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--rate-seconds", type=float, default=15.0)
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the run of the reference commit (bench/reference.py)")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cr_webhooks_bench")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")
    if "127.0.0.1" not in database_url and "localhost" not in database_url:
        sys.exit("The bench only runs against a local database.")
    os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url, DJANGO_ENV="development", DEBUG="false")
    ensure_database(database_url)
    port = free_port()
    os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    _, channel = setup_channel(port)
    from messaging.channel_config import webhook_path

    url = f"http://127.0.0.1:{port}{webhook_path(channel)}"
    env = dict(os.environ, ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING", DB_CONN_MAX_AGE="600")
    server = start_gunicorn(port, args.workers, env, args.gunicorn_args.split())
    try:
        print(f"cpus={os.cpu_count()} gunicorn_workers={args.workers} concurrency={args.concurrency}")
        warm = build_requests(url, SENDERS, 0)
        ok, failed, _ = asyncio.run(closed_loop(url, warm, args.concurrency, args.time_limit))
        print(f"warmup_ok={ok} warmup_failed={failed}")

        batch = build_requests(url, args.requests, SENDERS)
        before = stored_count(channel)
        # Where the CPU goes, per request: this process (the load generator), gunicorn, PostgreSQL
        # (all its processes: anything else using the database counts too).
        watched = {"client": [os.getpid()], "server": process_tree(server.pid), "postgres": postgres_pids()}
        cpu_before = {name: cpu_seconds(pids) for name, pids in watched.items()}
        ok, failed, seconds = asyncio.run(closed_loop(url, batch, args.concurrency, args.time_limit))
        cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in watched.items()}
        stored = stored_count(channel) - before
        print(f"acknowledged={ok} failed={failed} stored={stored} seconds={seconds:.2f}")
        print(" ".join(f"cpu_ms_per_request_{name}={used * 1000 / max(ok, 1):.2f}"
                       for name, used in cpu.items()))
        if stored != ok:
            sys.exit(f"stored rows ({stored}) differ from acknowledged requests ({ok})")
        print(f"webhook_rps={ok / seconds:.0f}")

        paced = build_requests(url, int(args.rate * args.rate_seconds), SENDERS + args.requests)
        latencies, failed = asyncio.run(open_loop(url, paced, args.rate))
        print(f"paced_rate={args.rate:.0f} paced_ok={len(latencies)} paced_failed={failed}")
        if latencies:
            print(f"webhook_p50_ms={statistics.median(latencies):.1f}")
            print(f"webhook_p99_ms={percentile(latencies, 99):.1f}")
    finally:
        server.terminate()
        server.wait(timeout=20)
    if not args.no_reference:
        reference = run_reference("webhooks.py", [
            "--workers", str(args.workers), "--requests", str(args.requests),
            "--concurrency", str(args.concurrency), "--rate", str(args.rate),
            "--rate-seconds", str(args.rate_seconds)], {"DATABASE_URL": reference_database(database_url)})
        compare("webhook_rps", ok / seconds, reference)


if __name__ == "__main__":
    main()
