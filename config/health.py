"""`/healthz`: what a load balancer and the Docker HEALTHCHECK ask. No PHI, no auth."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception:  # any failure means "down" to the prober
        return "down"


def _broker_status() -> str:
    if not settings.REDIS_URL:
        return "eager"  # embedded mode: tasks run in-process, there is no broker to lose
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return "ok"
    except redis.RedisError:
        return "down"


def _phi_keys_status() -> str:
    """"down" when the master key ring is malformed or lacks a key that wraps a stored data key:
    then every PHI page would fail, so the instance must not take traffic."""
    from accounts.crypto import key_ring_problems, master_keys
    from accounts.models import DataKey

    if key_ring_problems(settings.PHI_MASTER_KEYS):
        return "down"
    try:
        known = [key.key_id for key in master_keys()]
        orphaned = DataKey.objects.exclude(master_key_id__in=known).exists()
    except Exception:  # the database check reports a broken database; don't mask it as keys
        return "ok"
    return "down" if orphaned else "ok"


@never_cache
@require_GET
def healthz(request):
    """Report database and broker status; 503 when either is down.

    The PHI key ring is checked too and named (`"phi_keys": "down"`) only when it fails, so the
    answer of a healthy instance stays the same small document probers already parse.
    """
    checks = {"database": _database_status(), "broker": _broker_status()}
    if _phi_keys_status() == "down":
        checks["phi_keys"] = "down"
    healthy = "down" not in checks.values()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )
