"""docker-compose.yml runs a worker for every queue the settings send tasks to: a routed queue
that no worker consumes fills up silently in production (nothing fails, nothing is delivered)."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml  # PyYAML: a dependency of drf-spectacular
from django.conf import settings

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def _command(service: dict) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _queues_consumed(argv: list[str], default_queue: str) -> set[str]:
    """The queues ``celery ... worker`` consumes: its -Q/--queues, else the default queue."""
    queues: set[str] = set()
    for index, arg in enumerate(argv):
        if arg in ("-Q", "--queues") and index + 1 < len(argv):
            queues |= set(argv[index + 1].split(","))
        elif arg.startswith("--queues="):
            queues |= set(arg.split("=", 1)[1].split(","))
        elif arg.startswith("-Q") and len(arg) > 2:
            queues |= set(arg[2:].split(","))
    return {queue for queue in queues if queue} or {default_queue}


def worker_queues() -> dict[str, set[str]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]  # safe_load resolves `<<: *app`
    workers = {}
    for name, service in services.items():
        argv = _command(service)
        if "celery" in argv and "worker" in argv:
            environment = service.get("environment") or {}
            default = environment.get("CELERY_TASK_DEFAULT_QUEUE", settings.CELERY_TASK_DEFAULT_QUEUE)
            workers[name] = _queues_consumed(argv, default)
    return workers


def test_every_routed_queue_and_the_default_queue_has_a_worker():
    workers = worker_queues()
    consumed = set().union(*workers.values())
    wanted = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    wanted.add(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert wanted - consumed == set(), workers


def test_webhook_deliveries_have_a_worker_of_their_own():
    # A slow partner must never delay sends: the webhooks queue is not shared with the default one.
    workers = worker_queues()
    webhook_workers = [name for name, queues in workers.items() if "webhooks" in queues]
    assert webhook_workers, workers
    assert all(settings.CELERY_TASK_DEFAULT_QUEUE not in workers[name] for name in webhook_workers)


def test_the_queue_parser_reads_the_forms_celery_accepts():
    assert _queues_consumed(shlex.split("celery -A config worker -Q a,b"), "d") == {"a", "b"}
    assert _queues_consumed(shlex.split("celery -A config worker --queues=a"), "d") == {"a"}
    assert _queues_consumed(shlex.split("celery -A config worker -Qa"), "d") == {"a"}
    assert _queues_consumed(shlex.split("celery -A config worker"), "d") == {"d"}
