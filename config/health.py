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


@never_cache
@require_GET
def healthz(request):
    """Report database and broker status; 503 when either is down."""
    checks = {"database": _database_status(), "broker": _broker_status()}
    healthy = "down" not in checks.values()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )
