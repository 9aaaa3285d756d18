#!/usr/bin/env python
"""Campaign dispatch benchmark: a campaign through the fake Twilio on loopback, with real Celery
workers on PostgreSQL + Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cr_campaign_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/campaign.py [--recipients 100000] [--naive 10000] [--limited 1500] \
        [--workers 2] [--fanout-audience 1000000]

In one run (set-up is not timed):
- ``fanout_s``: the fan-out of ``--recipients`` contacts into recipient rows (campaigns.fanout);
- ``sends_per_s``: from the dispatcher's start until every message is "sent" with Twilio's sid
  stored (rendered, encrypted, audited, provider id stored), channel limit 100,000/s;
- ``naive_sends_per_s``: ``--naive`` recipients sent as one ``queue_messages`` + one
  ``dispatch_message`` task per message (the single-send path), ``speedup`` = ours / naive;
- ``raw_post_per_s``: the fastest plain HTTP POST loop to the same fake from one process, and
  ``ratio_to_limit`` = sends_per_s / raw_post_per_s;
- with the channel limited to 50 MPS (``--limited`` recipients): ``max_observed_mps`` (the most
  messages the fake created in any one second of its own clock) and ``mean_mps`` (over the
  seconds between the first and the last);
- ``status_callbacks_per_s``: a signed "delivered" Twilio status callback for every message of the
  main campaign, posted to the live server (gunicorn) at the URL the message carried, and
  ``delivered_recipients`` once the results count them;
- ``fanout_peak_mb``: the peak memory (max RSS) of a process fanning out ``--fanout-audience``
  contacts (0 skips it: creating a million contacts takes a while).

Billing: the real ``billing.services`` when it is installed; otherwise (billing not merged yet)
a stand-in with an unlimited plan, reported as ``billing=stand-in``. Prints key=value lines.
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import (  # noqa: E402 (needs the path above)
    Autoanalyze,
    ensure_database,
    host_busy_seconds,
    host_loop_ms,
    process_tree,
)
from bench.webhooks import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    cpu_seconds,
    free_port,
    pids_named,
    postgres_pids,
    start_gunicorn,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
QUEUE = f"bench-campaign-{uuid.uuid4().hex[:8]}"


def billing_mode() -> str:
    try:
        import billing.services
    except ImportError:
        import types

        import billing

        class QuotaExceeded(Exception):
            pass

        services = types.ModuleType("billing.services")
        services.check_segments = lambda *, organization_id, segments: None
        services.estimate_cost = lambda *, organization_id, segments: None
        sys.modules["billing.services"] = services
        billing.services, billing.QuotaExceeded = services, QuotaExceeded
        return "stand-in"
    return "real"


def start_workers(count: int, env: dict[str, str]) -> list[subprocess.Popen]:
    procs = []
    for n in range(count):
        log = open(ROOT / "test-results" / f"bench-campaign-worker-{n}.log", "ab")  # noqa: SIM115
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", QUEUE, "--concurrency=1",
             "--pool=prefork", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel=WARNING", "-n", f"bench{n}@%h"], cwd=ROOT, env=env, stdout=log, stderr=log,
            start_new_session=True))
    time.sleep(8)  # the workers import Django and connect
    return procs


def make_campaign(org, channel, contact_count: int, name: str):
    """Contacts (bulk, sealed), a template and a care campaign sending around the clock."""
    import datetime

    from django_scopes import scope

    from accounts.actor import Actor
    from bench.queue_messages import make_contacts
    from campaigns.models import Campaign
    from campaigns.services.campaigns import create_campaign
    from campaigns.services.templates import create_template

    make_contacts(org, contact_count)
    actor = Actor.system("bench", organization_id=org.pk)
    with scope(organization=org):
        template = create_template(actor=actor, organization=org, name=f"Bench {name}", on_missing="blank",
                                   language="en", body="Hi {{ first_name | \"there\" }}, your flu shot is "
                                                       "due at {{ organisation }}. Reply C to confirm.")
        campaign = create_campaign(actor=actor, organization=org, name=name, kind="care", channel=channel,
                                   template=template)
        Campaign.objects.filter(pk=campaign.pk).update(send_window_start=datetime.time(0, 0),
                                                       send_window_end=datetime.time(23, 59, 59))
        campaign.refresh_from_db()
    return campaign


def bench_org(port: int, rate: int):
    from django_scopes import scopes_disabled

    from bench.webhooks import setup_channel

    org, channel = setup_channel(port)
    with scopes_disabled():
        channel.address = "+13125550000"  # a sender number: Twilio's list is filtered by From
        channel.rate_limit_per_second = rate
        channel.save(update_fields=["address", "rate_limit_per_second"])
    from messaging.ratelimit import get_rate_limiter

    get_rate_limiter().reset(channel.pk)
    return org, channel


def sent_count(channel) -> int:
    from django_scopes import scopes_disabled

    from messaging.models import Message

    with scopes_disabled():
        return Message.objects.filter(channel=channel, status="sent").exclude(provider_message_id="").count()


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def watched_processes(workers: list[subprocess.Popen]) -> dict[str, list[int]]:
    """Where a send's CPU goes: the Celery workers (with their pool children), PostgreSQL (every
    database's work on the server), Redis, and this process (the fake Twilio's threads)."""
    return {"workers": [pid for proc in workers for pid in process_tree(proc.pid)],
            "postgres": postgres_pids(), "redis": pids_named("redis-server"), "fake": [os.getpid()]}


# What a campaign's sends and receipts read and write (ANALYZEd as autovacuum would).
ANALYZED = ("messaging_message, messaging_conversation, campaigns_campaignrecipient, contacts_contact, "
            "billing_usagecounter, messaging_deliveryreceipt")


def run_campaign(org, channel, campaign, expected: int, timeout: float,
                 workers: list[subprocess.Popen] | None = None) -> tuple[float, float]:
    """(fan-out seconds, seconds from the dispatcher's start until ``expected`` messages are sent).
    With ``workers``, prints the CPU each group of processes spent per send while sending."""
    from django_scopes import scope

    from accounts.actor import Actor
    from campaigns.fanout import fan_out
    from campaigns.models import Campaign
    from campaigns.tasks import dispatch_campaign

    with scope(organization=org):
        Campaign.objects.filter(pk=campaign.pk).update(state="running")
        started = time.perf_counter()
        fan_out(actor=Actor.system("campaign-fanout", organization_id=org.pk), campaign_id=campaign.pk)
        fanout_s = time.perf_counter() - started
    # Backends and pool children that start while sending count from zero.
    watched = watched_processes(workers) if workers else {}
    before = {name: {pid: cpu_seconds([pid]) for pid in pids} for name, pids in watched.items()}
    busy_before, started = host_busy_seconds(), time.perf_counter()
    dispatch_campaign.delay(org_id=org.pk, campaign_id=campaign.pk)
    with Autoanalyze(ANALYZED):
        if not wait_until(lambda: sent_count(channel) >= expected, timeout):
            print(f"warning=only {sent_count(channel)} of {expected} sent within {timeout:.0f}s")
    send_s = time.perf_counter() - started
    if workers:
        # The fake's figure includes this process's polling for the sent count (one query a
        # half second); PostgreSQL's includes any other database's work on the server.
        now = watched_processes(workers)
        used = {name: sum(cpu_seconds([pid]) - before[name].get(pid, 0.0) for pid in pids)
                for name, pids in now.items()}
        used["host"] = host_busy_seconds() - busy_before
        print(" ".join(f"send_cpu_ms_per_send_{name}={cpu * 1000 / expected:.2f}"
                       for name, cpu in used.items()))
    return fanout_s, send_s


def naive(org, channel, contact_ids: list[int], timeout: float) -> float:
    from django_scopes import scope

    from accounts.actor import Actor
    from messaging.models import Message
    from messaging.services.queueing import Recipient, queue_messages

    actor = Actor.system("bench-naive", organization_id=org.pk)
    started = time.perf_counter()
    with scope(organization=org):
        for n, contact_id in enumerate(contact_ids):
            queue_messages(actor=actor, channel=channel, origin=Message.Origin.CAMPAIGN, recipients=[
                Recipient(contact_id=contact_id, body=f"Hi, your flu shot is due ({n}).",
                          idempotency_key=f"naive-{contact_id}")])
    wait_until(lambda: sent_count(channel) >= len(contact_ids), timeout)
    return len(contact_ids) / (time.perf_counter() - started)


def raw_posts(fake, seconds: float = 3.0) -> float:
    host, port = "127.0.0.1", fake.port
    body = urlencode({"To": "+13125559999", "From": "+13125550000", "Body": "raw"})
    auth = __import__("base64").b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {auth}"}
    path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    n, ends = 0, time.perf_counter() + seconds
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port)  # kept alive, as the SDK's pool keeps its own
    while time.perf_counter() < ends:
        conn.request("POST", path, body=body, headers=headers)
        conn.getresponse().read()
        n += 1
    conn.close()
    return n / (time.perf_counter() - started)


def status_callbacks(fake) -> float:
    """Post, as Twilio would, a signed "delivered" callback for every message the fake accepted
    with a StatusCallback URL (the URL carries our reference), 8 at a time; returns per second."""
    from messaging.providers._twilio_webhooks import compute_signature

    jobs = list(fake.status_callbacks.items())

    def post(job):
        sid, (url, to) = job
        pairs = [("MessageSid", sid), ("MessageStatus", "delivered"), ("AccountSid", ACCOUNT_SID),
                 ("To", to), ("From", "+13125550000"), ("SmsStatus", "delivered")]
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        conn.request("POST", parts.path + (f"?{parts.query}" if parts.query else ""), body=urlencode(pairs),
                     headers={"Content-Type": "application/x-www-form-urlencoded",
                              "X-Twilio-Signature": compute_signature(AUTH_TOKEN, url, pairs)})
        status = conn.getresponse().status
        conn.close()
        return status

    started = time.perf_counter()
    with Autoanalyze(ANALYZED), ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post, jobs))
    seconds = time.perf_counter() - started
    refused = sum(1 for s in statuses if s >= 300)
    if refused:
        print(f"warning={refused} status callbacks were refused")
    return len(statuses) / seconds if seconds else 0.0


def fanout_peak_mb(audience: int) -> float:
    """Peak memory (max RSS) of a fresh process that only fans out ``audience`` contacts: one child
    creates the contacts and the campaign (set-up, its memory not counted), a second fans out."""
    env = dict(os.environ)
    made = subprocess.run([sys.executable, __file__, "--fanout-setup", str(audience)], cwd=ROOT,
                          capture_output=True, text=True, check=True, env=env)
    org_id, campaign_id = made.stdout.strip().splitlines()[-1].split("=")[1].split(",")
    out = subprocess.run([sys.executable, __file__, "--fanout-run", f"{org_id},{campaign_id}"], cwd=ROOT,
                         capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1].split("=")[1])


def fanout_setup(audience: int) -> None:
    import django

    django.setup()
    billing_mode()
    org, channel = bench_org(free_port(), 1000)
    campaign = make_campaign(org, channel, audience, "Fan-out memory")
    print(f"campaign={org.pk},{campaign.pk}")


def fanout_run(ids: str) -> None:
    import django

    django.setup()
    from django_scopes import scope, scopes_disabled

    from accounts.actor import Actor
    from accounts.models import Organization
    from campaigns.fanout import fan_out
    from campaigns.models import Campaign

    org_id, campaign_id = (int(v) for v in ids.split(","))
    with scopes_disabled():
        org = Organization.objects.get(pk=org_id)
    with scope(organization=org):
        Campaign.objects.filter(pk=campaign_id).update(state="running")
        fan_out(actor=Actor.system("campaign-fanout", organization_id=org_id), campaign_id=campaign_id)
    print(f"fanout_peak_mb={_peak_rss_kb() / 1024:.0f}")


def _peak_rss_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries that across exec, so a child of the
    bench (hundreds of MB: the fake keeps every request) would report its parent's size."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=10_000)
    parser.add_argument("--limited", type=int, default=1_500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fanout-audience", type=int, default=1_000_000)
    parser.add_argument("--fanout-setup", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--fanout-run", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])
    if args.fanout_setup:
        fanout_setup(args.fanout_setup)
        return
    if args.fanout_run:
        fanout_run(args.fanout_run)
        return
    from tests.fakes import FakeTwilio

    # Persistent connections, as Twilio's API serves them (the SDK pools them per worker).
    fake = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, keep_alive=True).start()
    port = free_port()
    # DEBUG off, as in production: with it on, Django keeps every statement's SQL with its values.
    env = dict(os.environ, TWILIO_API_BASE_URL=fake.api_base_url, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
               DJANGO_ENV="development", DEBUG="false", CELERY_TASK_ALWAYS_EAGER="false",
               CELERY_TASK_DEFAULT_QUEUE=QUEUE, CAMPAIGN_DISPATCH_WATCH_SECONDS="1")
    os.environ.update({k: env[k] for k in ("TWILIO_API_BASE_URL", "PUBLIC_BASE_URL", "DJANGO_ENV", "DEBUG",
                                           "CELERY_TASK_ALWAYS_EAGER", "CELERY_TASK_DEFAULT_QUEUE")})
    import django

    django.setup()
    print(f"billing={billing_mode()}")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    (ROOT / "test-results").mkdir(exist_ok=True)
    server = start_gunicorn(port, 2, env, ["--worker-class", "sync"])
    workers = start_workers(args.workers, env)
    try:
        print(f"cpus={os.cpu_count()} workers={args.workers} recipients={args.recipients}")
        print(f"host_loop_ms_start={host_loop_ms():.0f}")
        org, channel = bench_org(port, 100_000)
        campaign = make_campaign(org, channel, args.recipients, "Bench main")
        fanout_s, send_s = run_campaign(org, channel, campaign, args.recipients, timeout=3600,
                                        workers=workers)
        sends_per_s = args.recipients / send_s
        print(f"fanout_s={fanout_s:.2f}")
        print(f"sends_per_s={sends_per_s:.0f}")
        print(f"status_callbacks_per_s={status_callbacks(fake):.0f}")
        from django_scopes import scope

        from campaigns import results
        from campaigns.dispatching import dispatcher_actor

        time.sleep(2)
        with scope(organization=org):
            progress = results.progress(actor=dispatcher_actor(org.pk), campaign=campaign)
        print(f"delivered_recipients={progress.counts['delivered']}")

        naive_org, naive_channel = bench_org(port, 100_000)
        from bench.queue_messages import make_contacts

        naive_ids = make_contacts(naive_org, args.naive)
        naive_per_s = naive(naive_org, naive_channel, naive_ids, timeout=3600)
        print(f"naive_sends_per_s={naive_per_s:.0f}")
        print(f"speedup={sends_per_s / naive_per_s:.1f}")
        raw = raw_posts(fake)
        print(f"raw_post_per_s={raw:.0f}")
        print(f"ratio_to_limit={sends_per_s / raw:.2f}")

        limited_org, limited_channel = bench_org(port, 50)
        limited = make_campaign(limited_org, limited_channel, args.limited, "Bench 50 MPS")
        first = len(fake.created_at_monotonic)
        run_campaign(limited_org, limited_channel, limited, args.limited, timeout=args.limited / 40 + 120)
        stamps = sorted(fake.created_at_monotonic[first:])
        fake.created_at_monotonic[:] = stamps
        print(f"max_observed_mps={fake.max_in_any_second()}")
        whole = int(stamps[-1]) - int(stamps[0]) if len(stamps) > 1 else 0
        inner = [t for t in stamps if int(stamps[0]) < int(t) < int(stamps[-1])]
        print(f"mean_mps={(len(inner) / (whole - 1)) if whole > 1 else 0:.1f}")
        if args.fanout_audience:
            print(f"fanout_peak_mb={fanout_peak_mb(args.fanout_audience):.0f}")
        print(f"host_loop_ms_end={host_loop_ms():.0f}")
    finally:
        for proc in workers:
            proc.terminate()
        server.terminate()
        fake.stop()


if __name__ == "__main__":
    main()
