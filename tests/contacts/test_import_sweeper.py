"""Broker down, runners dead (issue 15 #6, import half): no import stays queued or running for
ever; the sweeper dispatches it when the broker is back and resumes a dead runner's job after
its last committed chunk — judged by its heartbeat, not after an hour."""

from __future__ import annotations

import datetime
import io
import socket

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from audit import AuditAction
from audit.models import AuditEvent
from contacts.importing import lease, runner, service, sweeper
from contacts.models import Contact, ImportJob
from tests.contacts.helpers import actor, csv_bytes, error_rows, run_file, upload

HEADER = ["Name", "Phone"]
ROWS = [[f"Patient {n}", f"+1415555{n:04d}"] for n in range(20)] + [["Bad", "12"]]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on leaving: nothing listens there


@pytest.fixture
def broker_down():
    """The Celery app pointed at a port nobody listens on (tasks no longer run eagerly)."""
    from config.celery import app

    saved = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
    app.conf.task_always_eager = False
    app._pool = None
    app.amqp._producer_pool = None
    yield app
    app.conf.broker_url, app.conf.task_always_eager = saved
    app._pool = None
    app.amqp._producer_pool = None


def broker_back(app) -> None:
    app.conf.task_always_eager = True  # the test's stand-in for a worker taking the task


def job_of(tenant, job) -> ImportJob:
    with tenant.scope():
        return ImportJob.objects.get(pk=job.pk)


def test_saving_the_mapping_with_the_broker_down_says_so_and_the_sweeper_starts_it_later(tenant_a,
                                                                                         broker_down):
    client = tenant_a.client_for("staff")
    map_url = client.post(reverse("contacts:import_upload"),
                          {"file": io.BytesIO(csv_bytes([HEADER, *ROWS]))})["Location"]
    response = client.post(map_url, {"column_0": "full_name", "column_1": "phone", "region": "US",
                                     "on_existing": "update"}, follow=True)
    assert response.status_code == 200  # not a 500
    assert b"background service is not reachable" in response.content
    assert b"start by itself" in response.content
    with tenant_a.scope():
        job = ImportJob.objects.get()
    assert (job.status, job.dispatched_at) == ("queued", None)
    progress = client.get(reverse("contacts:import_progress", args=[job.uuid]))
    assert b"will start by itself as soon as it is back" in progress.content  # on a later visit too

    still_down = sweeper.sweep().as_dict()
    assert still_down == {"queued": 1, "resumed": 0, "broker_down": 1, "stale_spools": 0}
    broker_back(broker_down)
    assert sweeper.sweep().as_dict() == {"queued": 1, "resumed": 0, "broker_down": 0, "stale_spools": 0}
    job = job_of(tenant_a, job)
    assert (job.status, job.created_count, job.failed_count) == ("done", 20, 1)
    assert sweeper.sweep().as_dict() == {"queued": 0, "resumed": 0, "broker_down": 0, "stale_spools": 0}


def test_the_management_command_runs_queued_imports_in_process_while_the_broker_is_down(tenant_a,
                                                                                        broker_down):
    job = upload(tenant_a, csv_bytes([HEADER, *ROWS]))
    with tenant_a.scope():
        assert service.configure(actor=actor(tenant_a), job=job, mapping=["full_name", "phone"],
                                 default_region="US", on_existing="update") == []
        assert service.queued_notice(job) == service.BROKER_DOWN_NOTICE
    out = io.StringIO()
    call_command("sweep_imports", "--in-process", stdout=out)
    assert "queued=1" in out.getvalue()
    assert job_of(tenant_a, job).status == "done"


class Crash(BaseException):
    """Like a killed process: nothing catches it, the job stays "running"."""


def crash_after(monkeypatch, commits: int):
    real = runner._commit
    done = []

    def commit(*args):
        if len(done) == commits:
            raise Crash
        done.append(1)
        real(*args)

    monkeypatch.setattr(runner, "_commit", commit)
    return real


def test_a_dead_runners_import_is_resumed_by_the_sweeper_once_its_heartbeat_is_stale(tenant_a, tenant_b,
                                                                                    monkeypatch):
    monkeypatch.setattr(runner, "BATCH_ROWS", 5)
    real = crash_after(monkeypatch, 2)
    with pytest.raises(Crash):
        run_file(tenant_a, csv_bytes([HEADER, *ROWS]))
    with tenant_a.scope():
        job = ImportJob.objects.get()
    assert (job.status, job.processed_rows) == ("running", 10)
    monkeypatch.setattr(runner, "_commit", real)

    # A live lease is left alone: the runner may only be slow.
    lease_time = datetime.timedelta(seconds=settings.CONTACT_IMPORT_LEASE_SECONDS)
    with time_machine.travel(timezone.now() + lease_time - datetime.timedelta(seconds=5)):
        assert sweeper.sweep().resumed == 0
    assert job_of(tenant_a, job).status == "running"

    # Minutes later, not an hour: the heartbeat is stale, the sweeper hands the job on.
    with time_machine.travel(timezone.now() + lease_time + datetime.timedelta(seconds=1), tick=True):
        assert sweeper.sweep().as_dict() == {"queued": 0, "resumed": 1, "broker_down": 0, "stale_spools": 0}
    job = job_of(tenant_a, job)
    assert (job.status, job.resumed_count) == ("done", 1)
    clean = run_file(tenant_b, csv_bytes([HEADER, *ROWS]))
    fields = ("total_rows", "processed_rows", "created_count", "skipped_count", "failed_count", "error_lines")
    assert [getattr(job, f) for f in fields] == [getattr(clean, f) for f in fields]
    assert error_rows(job) == error_rows(clean)  # the same single error line, not twice
    with tenant_a.scope():
        assert Contact.objects.count() == 20
    with scopes_disabled():  # test inspection of the audit log
        resumed = AuditEvent.objects.get(organization=tenant_a.org,
                                         action=AuditAction.CONTACTS_IMPORT_RESUMED)
    assert resumed.detail == {"processed_rows": 10, "resumed_count": 1}
    assert (resumed.actor_type, resumed.actor_id) == ("system", "contact-import")


def test_a_runner_that_lost_its_lease_commits_nothing_more(tenant_a, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_ROWS", 5)
    taken_over = []
    real = runner._commit

    def commit(job, *args):
        if job.processed_rows == 5 and not taken_over:
            # Meanwhile the sweeper judged this runner dead and another one claimed the job.
            ImportJob.objects.filter(pk=job.pk).update(runner_token="someone-else")
            taken_over.append(1)
        real(job, *args)

    monkeypatch.setattr(runner, "_commit", commit)
    job = run_file(tenant_a, csv_bytes([HEADER, *ROWS]))
    job = job_of(tenant_a, job)
    assert (job.status, job.processed_rows, job.runner_token) == ("running", 5, "someone-else")
    with tenant_a.scope():
        assert Contact.objects.count() == 5  # the refused chunk rolled back


def test_a_queued_job_already_handed_to_the_broker_is_not_sent_twice_at_once(tenant_a, broker_down):
    job = upload(tenant_a, csv_bytes([HEADER, *ROWS]))
    with tenant_a.scope():
        service.configure(actor=actor(tenant_a), job=job, mapping=["full_name", "phone"],
                          default_region="US", on_existing="update")
    with tenant_a.scope():
        ImportJob.objects.filter(pk=job.pk).update(dispatched_at=timezone.now())  # the broker took it
    assert sweeper.due_jobs() == ([], [])
    later = timezone.now() + datetime.timedelta(seconds=settings.CONTACT_IMPORT_REDISPATCH_SECONDS + 1)
    assert [j.pk for j in sweeper.due_jobs(later)[0]] == [job.pk]  # its message was lost: again


def test_the_sweep_is_scheduled_by_celery_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-contact-imports"]
    assert entry["task"] == "contacts.sweep_contact_imports" and entry["schedule"] <= 60
    from config.celery import app

    assert "contacts.sweep_contact_imports" in app.tasks


def test_lease_claim_is_exclusive(tenant_a):
    job = upload(tenant_a, csv_bytes([HEADER, *ROWS]))
    with tenant_a.scope():
        ImportJob.objects.filter(pk=job.pk).update(status="queued")
    with tenant_a.scope():
        first = lease.claim(job)
        assert first is not None and first[1] is False
        assert lease.claim(job) is None  # held, and fresh
