"""Big files are prepared in forked worker processes: same result as in-process, to the row."""

from __future__ import annotations

import datetime
import logging
import multiprocessing
import os
from types import SimpleNamespace

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from contacts.importing import runner, service, workers
from contacts.models import Contact, ContactNameToken, ImportJob
from tests.contacts.helpers import actor, csv_bytes, error_rows, run_file, upload

HEADER = ["Full name", "Phone", "Email", "DOB", "SMS consent", "Tags", "Insurer", "Visits", "Seen"]
MAPPING = ["full_name", "phone", "email", "date_of_birth", "sms_consent", "tags", "new:text", "new:number",
           "new:date"]


def messy_rows() -> list[list[str]]:
    """Good rows in every phone style, and each kind of problem, across many small chunks."""
    rows = [HEADER]
    for n in range(60):
        phone = f"(415) 555-{n:04d}" if n % 2 else f"+1415555{n:04d}"
        rows.append([f"Zoë-Ann Patient{n}", phone, f"p{n}@Example.org" if n % 3 else "",
                     "1980-02-29" if n % 4 else "03/04/1975", ["yes", "no", ""][n % 3],
                     "flu, diabetes" if n % 5 == 0 else "", "Aetna", str(n), "2024-05-01"])
    rows[7][1] = "555-CALL-NOW"             # invalid phone
    rows[8][1] = ""                         # no phone
    rows[9][2] = "not-an-email"             # bad e-mail
    rows[10][3] = "2199-01-01"              # implausible birth date
    rows[11][7] = "three"                   # not a number
    rows[12][4] = "maybe"                   # not yes/no
    rows[13] = [""] * len(HEADER)           # blank
    rows[20] = list(rows[15])               # duplicate of row 16 in the file
    rows[41] = list(rows[3])                # a duplicate in a later chunk
    rows[30][1] = "'+14155550001"           # spreadsheet text prefix; same phone as row 3 (file row 2)
    return rows


def snapshot(tenant, job: ImportJob) -> dict:
    """Everything an import produced, decrypted, keyed by phone — comparable across organisations."""
    with tenant.scope():
        contacts = {
            c.phone: (c.first_name, c.last_name, c.email, c.date_of_birth, c.custom_values and
                      sorted(c.custom_values.values(), key=str), c.timezone, c.sms_opted_in,
                      c.sms_consent_source, sorted(t.name for t in c.tags.all()),
                      ContactNameToken.objects.filter(contact=c).count(), c.origin)
            for c in Contact.objects.all()
        }
    counters = {f: getattr(job, f) for f in ("status", "total_rows", "processed_rows", "created_count",
                                             "updated_count", "skipped_count", "failed_count", "blank_rows",
                                             "error_lines")}
    return {"counters": counters, "errors": error_rows(job), "contacts": contacts}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 7 rows, and workers for any file size, on any machine."""
    monkeypatch.setattr(runner, "BATCH_ROWS", 7)
    monkeypatch.setattr(runner, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(runner, "_usable_cpus", lambda: 2)


def existing_patients(tenant):
    """Two contacts the big file will update (their rows say something else)."""
    run_file(tenant, csv_bytes([["Name", "Phone", "Email"], ["Old Name", "+14155550004", "old@example.org"],
                                ["Other Old", "+14155550005", ""]]))


def import_messy_file(tenant, caplog, on_existing: str = "update") -> ImportJob:
    existing_patients(tenant)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="contacts.importing.runner"):
        job = run_file(tenant, csv_bytes(messy_rows()), mapping=MAPPING, on_existing=on_existing)
    return job


def expected_counters(on_existing: str = "update") -> dict:
    updated = 2 if on_existing == "update" else 0
    return {"status": "done", "total_rows": 60, "processed_rows": 60, "created_count": 48,
            "updated_count": updated, "skipped_count": 5 - updated, "failed_count": 6, "blank_rows": 1,
            "error_lines": 11 - updated}


def ran_with(caplog) -> str:
    """How the runner says it prepared the rows: "2 workers" or "in-process"."""
    messages = [r.getMessage() for r in caplog.records if r.name == "contacts.importing.runner"]
    return messages[-1].split(": ", 1)[1]


@pytest.mark.parametrize("on_existing", ["update", "skip"])
def test_workers_import_exactly_what_the_in_process_path_imports(tenant_a, tenant_b, small_chunks,
                                                                  monkeypatch, caplog, on_existing):
    parallel = import_messy_file(tenant_a, caplog, on_existing)
    assert ran_with(caplog) == "2 workers"

    monkeypatch.setattr(runner, "_usable_cpus", lambda: 1)
    in_process = import_messy_file(tenant_b, caplog, on_existing)
    assert ran_with(caplog) == "in-process"

    ours, theirs = snapshot(tenant_a, parallel), snapshot(tenant_b, in_process)
    assert ours == theirs
    assert ours["counters"] == expected_counters(on_existing)
    updated_or_kept = {"update": ("Zoë-Ann", "Patient4", "p4@example.org"),
                       "skip": ("Old", "Name", "old@example.org")}[on_existing]
    assert ours["contacts"]["+14155550004"][:3] == updated_or_kept


def test_workers_start_inside_a_daemonic_process(small_chunks):
    # Celery's prefork children are daemonic: multiprocessing refuses to start processes there.
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)

    def in_daemon() -> None:
        pool = workers.start(_square_with_pid, 2)
        refused = ""
        try:
            context.Process(target=os.getpid).start()
        except AssertionError as exc:
            refused = str(exc)
        with pool:
            results = list(pool.map(range(10)))
        writer.send((multiprocessing.current_process().daemon, refused, len(pool), results, os.getpid()))

    daemon = context.Process(target=in_daemon, daemon=True)
    daemon.start()
    assert reader.poll(30), "the daemonic process did not answer"
    is_daemon, refused, count, results, daemon_pid = reader.recv()
    daemon.join(10)
    assert is_daemon and "daemonic processes are not allowed to have children" in refused
    assert count == 2
    assert [square for square, _ in results] == [n * n for n in range(10)]  # in order
    assert len({pid for _, pid in results}) == 2 and daemon_pid not in {pid for _, pid in results}


def _square_with_pid(n: int) -> tuple[int, int]:
    return n * n, os.getpid()


def test_a_failing_worker_fails_the_job_without_quoting_the_row(tenant_a, small_chunks, monkeypatch, caplog):
    from contacts.importing.normalising import RowNormaliser

    def explode(self, number, cells):
        raise RuntimeError(f"cannot read {cells}")  # the text quotes PHI: it must go nowhere

    monkeypatch.setattr(RowNormaliser, "__call__", explode)
    with caplog.at_level(logging.INFO):
        job = run_file(tenant_a, csv_bytes(messy_rows()), mapping=MAPPING)
    assert job.status == "failed"
    assert "stopped unexpectedly" in job.failure_reason
    for text in (job.failure_reason, caplog.text):
        # The rows' phones as written ("(415) 555-…", "+1415555…"), not a bare "415": a Celery
        # task id in the log is random hex and held "415" about once in 150 runs.
        assert "Patient" not in text and "(415) 555" not in text and "+1415555" not in text
    assert "an import worker failed (RuntimeError)" in caplog.text
    assert_no_children_left()


def test_a_worker_that_dies_leaves_the_rest_to_the_importing_process(tenant_a, tenant_b, small_chunks,
                                                                     monkeypatch, caplog):
    """Killed (out of memory, a signal): nothing wrong with the rows, so the import goes on in-process
    from the last committed chunk and ends exactly as an import that never used workers."""
    from contacts.importing.normalising import RowNormaliser

    parent = os.getpid()
    real = RowNormaliser.__call__

    def die_in_worker(self, number, cells):
        if os.getpid() != parent and number > 30:
            os._exit(3)
        return real(self, number, cells)

    monkeypatch.setattr(RowNormaliser, "__call__", die_in_worker)
    with caplog.at_level(logging.WARNING, logger="contacts.importing.runner"):
        job = import_messy_file(tenant_a, caplog)
    assert "an import worker stopped; continuing in-process" in caplog.text
    assert_no_children_left()
    monkeypatch.setattr(runner, "_usable_cpus", lambda: 1)
    assert snapshot(tenant_a, job) == snapshot(tenant_b, import_messy_file(tenant_b, caplog))
    assert snapshot(tenant_a, job)["counters"] == expected_counters()


@pytest.mark.parametrize("crash_point", ["before the commit", "after its error lines were written"])
@pytest.mark.parametrize("cpus", [1, 2])
def test_an_interrupted_import_resumes_as_if_never_stopped(tenant_a, tenant_b, small_chunks, monkeypatch,
                                                           caplog, cpus, crash_point):
    monkeypatch.setattr(runner, "_usable_cpus", lambda: cpus)
    real_commit, real_write = runner._commit, runner._ErrorFile.write
    commits = []

    def crash_after_three(*args):
        if len(commits) == 3 and crash_point == "before the commit":
            raise Crash  # like a killed Celery worker: nothing catches it, the job stays "running"
        commits.append(1)
        real_commit(*args)

    def write_then_crash(self, issues):
        written = real_write(self, issues)
        if len(commits) >= 4 and issues and crash_point != "before the commit":
            raise Crash  # the lines are on disk, the chunk never commits
        return written

    existing_patients(tenant_a)
    monkeypatch.setattr(runner, "_commit", crash_after_three)
    monkeypatch.setattr(runner._ErrorFile, "write", write_then_crash)
    with pytest.raises(Crash):
        run_file(tenant_a, csv_bytes(messy_rows()), mapping=MAPPING)
    assert_no_children_left()
    with tenant_a.scope():
        job = ImportJob.objects.latest("pk")
    assert job.status == "running" and job.processed_rows >= 21 and job.processed_rows % 7 == 0

    monkeypatch.setattr(runner, "_commit", real_commit)
    monkeypatch.setattr(runner._ErrorFile, "write", real_write)
    with tenant_a.scope():
        runner.run_import(job)  # re-delivered at once: the dead runner's lease is still fresh
        job.refresh_from_db()
    assert job.status == "running" and job.resumed_count == 0
    later = timezone.now() + datetime.timedelta(seconds=settings.CONTACT_IMPORT_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=True), tenant_a.scope():
        runner.run_import(job)  # the re-delivered task, once the lease ran out
    assert job.resumed_count == 1
    assert snapshot(tenant_a, job) == snapshot(tenant_b, import_messy_file(tenant_b, caplog))


class Crash(BaseException):
    pass


def test_without_fork_the_import_runs_in_process(tenant_a, small_chunks, monkeypatch, caplog):
    def no_fork():
        raise OSError("fork refused")

    monkeypatch.setattr(os, "fork", no_fork)
    job = import_messy_file(tenant_a, caplog)
    assert ran_with(caplog) == "in-process"
    assert job.status == "done" and snapshot(tenant_a, job)["counters"] == expected_counters()


def test_small_files_and_single_cpus_import_in_process(tenant_a, monkeypatch, settings):
    job = ImportJob(total_rows=runner.PARALLEL_MIN_ROWS)
    monkeypatch.setattr(runner, "_usable_cpus", lambda: 8)
    assert runner._worker_count(job) == settings.CONTACT_IMPORT_WORKERS == 2
    settings.CONTACT_IMPORT_WORKERS = 0
    assert runner._worker_count(job) == 0
    settings.CONTACT_IMPORT_WORKERS = 2
    job.total_rows -= 1
    assert runner._worker_count(job) == 0
    job.total_rows += 1
    with monkeypatch.context() as patched:
        patched.setattr(runner, "connection", SimpleNamespace(vendor="sqlite"))
        assert runner._worker_count(job) == 0
    monkeypatch.setattr(runner, "_usable_cpus", lambda: 1)
    assert runner._worker_count(job) == 0


def test_workers_refuse_to_fork_a_threaded_process(monkeypatch):
    monkeypatch.setattr(workers.threading, "active_count", lambda: 2)
    assert workers.start(_square_with_pid, 2) is None


def assert_no_children_left():
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.worker
def test_a_celery_worker_prepares_rows_in_its_own_processes(celery_worker_factory, tenant_a, settings,
                                                            monkeypatch):
    from tests.worker_faults.test_worker_crash import wait_for

    monkeypatch.setenv("MEDIA_ROOT", str(settings.MEDIA_ROOT))  # the worker reads the same uploads
    worker = celery_worker_factory(include=["tests.worker_import_tuning"]).start()
    existing_patients_job = upload(tenant_a, csv_bytes([["Name", "Phone", "Email"],
                                                        ["Old Name", "+14155550004", "old@example.org"],
                                                        ["Other Old", "+14155550005", ""]]))
    queue(tenant_a, existing_patients_job, ["full_name", "phone", "email"])
    wait_for(lambda: finished(tenant_a, existing_patients_job), 60, "the first import")
    job = upload(tenant_a, csv_bytes(messy_rows()))
    queue(tenant_a, job, MAPPING)
    wait_for(lambda: finished(tenant_a, job), 60, "the import in the Celery worker")
    with tenant_a.scope():
        job.refresh_from_db()
    assert snapshot(tenant_a, job)["counters"] == expected_counters()
    # Forked from a daemonic pool child, where multiprocessing refuses to start processes.
    assert f"contact import {job.pk}: 2 workers" in worker.log_path.read_text()


def queue(tenant, job: ImportJob, mapping: list[str]) -> None:
    with tenant.scope():
        assert service.configure(actor=actor(tenant), job=job, mapping=mapping, default_region="US",
                                 on_existing="update") == []


def finished(tenant, job: ImportJob) -> bool:
    with tenant.scope():
        return ImportJob.objects.get(pk=job.pk).is_finished
