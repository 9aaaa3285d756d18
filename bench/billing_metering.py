"""What metering costs a webhook: the same signed Twilio inbound SMS, in-process, A/B.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cr_billing_bench REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/billing_metering.py [--rounds 6] [--batch 200]

Alternates batches with metering on (``billing.services.record_inbound``, as shipped) and off
(replaced by a no-op) through Django's test client, so both halves see the same machine load;
prints the CPU (this process) and wall time per request of each, and the difference. The
end-to-end figure is ``bench/webhooks.py`` (gunicorn, separate load process).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database  # noqa: E402 (needs the path above)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])
    from bench.webhooks import build_requests, setup_channel

    org, channel = setup_channel(0)
    from django.conf import settings
    from django.test import Client

    import messaging.services.inbound as inbound
    from messaging.channel_config import webhook_url

    settings.ALLOWED_HOSTS = ["*"]
    url = webhook_url(channel)
    path = url.split("://", 1)[1].split("/", 1)[1]
    client = Client()
    real = inbound.record_inbound
    samples: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    n = 0
    # Warm-up: creates the senders' contacts and conversations (not timed).
    for body, headers in build_requests(url, 200, n):
        client.post("/" + path, body, content_type=headers["Content-Type"],
                    HTTP_X_TWILIO_SIGNATURE=headers["X-Twilio-Signature"])
    n += 200
    for _round in range(args.rounds):
        for mode in ("on", "off"):
            inbound.record_inbound = real if mode == "on" else (lambda **kw: None)
            batch = build_requests(url, args.batch, n)
            n += args.batch
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for body, headers in batch:
                response = client.post("/" + path, body, content_type=headers["Content-Type"],
                                       HTTP_X_TWILIO_SIGNATURE=headers["X-Twilio-Signature"])
                assert response.status_code == 200, response.status_code
            samples[mode].append(((time.process_time() - cpu0) * 1000 / args.batch,
                                  (time.perf_counter() - wall0) * 1000 / args.batch))
    inbound.record_inbound = real
    for mode in ("on", "off"):
        cpu = statistics.median(s[0] for s in samples[mode])
        wall = statistics.median(s[1] for s in samples[mode])
        print(f"metering_{mode}_cpu_ms_per_request={cpu:.3f}")
        print(f"metering_{mode}_wall_ms_per_request={wall:.3f}")
    def median(mode: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[mode])

    delta_cpu = median("on", 0) - median("off", 0)
    delta_wall = median("on", 1) - median("off", 1)
    print(f"metering_cost_cpu_ms_per_request={delta_cpu:.3f}")
    print(f"metering_cost_wall_ms_per_request={delta_wall:.3f}")
    # The upsert alone, 2,000 times in one transaction (Python CPU; wall includes PostgreSQL).
    from django.db import transaction

    with transaction.atomic():
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(2000):
            real(organization_id=org.pk, channel_kind="sms")
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        transaction.set_rollback(True)
    print(f"record_inbound_cpu_us={cpu * 1e6 / 2000:.1f}")
    print(f"record_inbound_wall_us={wall * 1e6 / 2000:.1f}")


if __name__ == "__main__":
    main()
