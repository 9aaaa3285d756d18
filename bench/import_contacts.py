#!/usr/bin/env python
"""Contact import benchmark: a realistic messy CSV imported end to end through the wizard's service.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cr_contacts_bench \
        .venv/bin/python bench/import_contacts.py
    ... bench/import_contacts.py --rows 1000000 --no-peer     # peak memory on a 1M-row file

End to end = upload (encrypted to disk) + row count + parse + normalise + encrypt + blind-index
+ dedupe + insert, via contacts.importing.service (the same code the wizard and task run).
Then the same file goes through django-import-export into a plain unencrypted model of the same
shape (bench-only app, table created at run time); then the same import on the reference
commit, in this run (bench/reference.py: ``no_regression=``). Prints key=value lines. The
database is a bench database: migrated here, contacts truncated.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import ensure_database, on_paid_plan, process_tree  # noqa: E402 (needs the path above)
from bench.reference import compare, reference_database, run_reference  # noqa: E402

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.contacts_settings"


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


class MemorySampler:
    """Peak total memory of this process and its children (the import's workers), by PSS.

    Forked workers share most of their pages with this process: adding RSS figures counts the
    shared pages once per process, PSS splits each page among the processes that map it.
    Sampled from a separate process (a thread here would keep the importer from forking its
    workers). Linux only (/proc/<pid>/smaps_rollup); elsewhere the peak stays 0.
    """

    def __enter__(self) -> MemorySampler:
        self.peak_mb = 0.0
        self._proc = subprocess.Popen([sys.executable, __file__, "--sample-memory-of", str(os.getpid())],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc) -> None:
        out, _ = self._proc.communicate("")  # closing its input tells it to report
        self.peak_mb = float(out.strip() or 0)


def sample_memory(pid: int, every: float = 0.25) -> None:
    """Print the peak PSS (MB) of ``pid`` and its children, other than this sampler, once stdin closes."""
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    peak, me = 0.0, os.getpid()
    while not done.wait(every):
        peak = max(peak, sum(_pss_kb(p) for p in process_tree(pid) if p != me) / 1024)
    print(f"{peak:.1f}")


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass  # the process ended between listing and reading
    return 0


def setup_django():
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    from bench.contacts_peer.models import PlainContact

    if PlainContact._meta.db_table not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.create_model(PlainContact)


def bench_org():
    from django.db import connection
    from django_scopes import scopes_disabled

    from accounts.models import Membership, Organization, User
    from accounts.roles import Role

    with scopes_disabled():  # bench set-up spans the tenant boundary on purpose
        org, _ = Organization.objects.get_or_create(slug="bench-import", defaults={"name": "Bench Clinic"})
        user = User.objects.filter(email="bench@bench.test").first() or User.objects.create_user(
            "bench@bench.test", None)
        membership, _ = Membership.objects.get_or_create(user=user, organization=org,
                                                         defaults={"role": Role.OWNER})
        with connection.cursor() as cur:  # a clean slate for the bench organisation's contacts
            for table in ("contacts_contacttag", "contacts_contactnametoken", "contacts_contact",
                          "contacts_customfield", "contacts_importcolumnmemory"):
                cur.execute(f"DELETE FROM {table} WHERE organization_id = %s", [org.pk])
    on_paid_plan(org)  # no contact cap (a trial's would stop a 1M-row file at its cap)
    # Earlier runs' deleted rows bloat the indexes and skew the planner (an index on
    # organization_id alone with ~2M dead entries was chosen over (organization_id, phone_index)
    # and made the per-batch duplicate lookup 0.6 s): start every run from fresh statistics.
    connection.ensure_connection()
    previous = connection.connection.autocommit
    connection.connection.autocommit = True
    with connection.cursor() as cur:
        for table in ("contacts_contact", "contacts_contactnametoken", "contacts_contacttag"):
            cur.execute(f"VACUUM ANALYZE {table}")
    connection.connection.autocommit = previous
    return org, user, membership


def run_ours(path: Path, org, user, membership) -> dict:
    from django_scopes import scope

    from contacts.importing import service
    from contacts.models import Contact, ImportJob

    def chunks():
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                yield block

    # The runner logs how it ran the job ("N workers" or "in-process"): keep that line.
    ran = logging.handlers.BufferingHandler(10)
    runner_log = logging.getLogger("contacts.importing.runner")
    runner_log.addHandler(ran)
    runner_log.setLevel(logging.INFO)
    started = time.perf_counter()
    from accounts.actor import Actor

    actor = Actor.member(membership, user=user)
    with scope(organization=org):
        job = service.upload_file(actor=actor, name=path.name, size=path.stat().st_size, chunks=chunks())
        mapping = [t if t != "ignore" else kind for t, kind in
                   zip(job.mapping, ["ignore"] * 5 + ["new:text", "new:number", "new:date"], strict=True)]
        problems = service.configure(actor=actor, job=job, mapping=mapping, default_region="US",
                                     on_existing="update")
        assert not problems, problems
        job = ImportJob.objects.get(pk=job.pk)
        elapsed = time.perf_counter() - started
        assert job.status == "done", job.failure_reason
        stored = Contact.objects.count()
    runner_log.removeHandler(ran)
    how = next((r.getMessage().split(": ", 1)[1] for r in ran.buffer if ": " in r.getMessage()), "?")
    return {"job": job, "seconds": elapsed, "stored": stored, "workers": how.replace(" ", "_")}


def run_peer(path: Path, rows: int | None) -> dict:
    import tablib
    from import_export import fields, resources

    from bench.contacts_data import HEADER
    from bench.contacts_peer.models import PlainContact

    columns = dict(zip(["first_name", "last_name", "phone", "email", "date_of_birth", "insurance", "visits",
                        "last_visit"], HEADER, strict=True))

    class PlainContactResource(resources.ModelResource):
        # django-import-export's documented fast path: bulk inserts, no diffs, no per-row report.
        class Meta:
            model = PlainContact
            fields = tuple(columns)
            import_id_fields = ("phone",)  # dedupe by phone, as ours does
            use_bulk = True
            batch_size = 1000
            skip_diff = True
            skip_unchanged = False
            report_skipped = False

    for attr, header in columns.items():
        PlainContactResource.fields[attr] = fields.Field(attribute=attr, column_name=header)

    PlainContact.objects.all().delete()
    started = time.perf_counter()
    text = path.read_text(encoding="utf-8")
    if rows:
        text = "\n".join(text.split("\n")[: rows + 1])
    dataset = tablib.Dataset().load(text, format="csv")
    result = PlainContactResource().import_data(dataset, dry_run=False, use_transactions=False,
                                                raise_errors=False)
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "rows": len(dataset), "stored": PlainContact.objects.count(),
            "errors": result.has_errors()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-peer", action="store_true", help="skip django-import-export")
    parser.add_argument("--peer-rows", type=int, default=None, help="import only this many rows in the peer")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the run of the reference commit (bench/reference.py)")
    parser.add_argument("--sample-memory-of", type=int, help=argparse.SUPPRESS)  # MemorySampler's own mode
    args = parser.parse_args()
    if args.sample_memory_of:
        sample_memory(args.sample_memory_of)
        return
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL bench database, e.g. "
                 "postgres://postgres@127.0.0.1:5432/cr_contacts_bench")
    ensure_database(url)
    setup_django()
    from bench.contacts_data import generate

    with tempfile.TemporaryDirectory(prefix="cr-bench-") as tmp:
        path = Path(tmp) / "patients.csv"
        t0 = time.perf_counter()
        stats = generate(path, args.rows)
        print(f"rows={args.rows}")
        print(f"file_mb={path.stat().st_size / 1e6:.1f}")
        print(f"generated_invalid={stats['invalid']} generated_duplicates={stats['duplicates']}")
        print(f"generate_s={time.perf_counter() - t0:.2f}")
        org, user, membership = bench_org()
        with MemorySampler() as memory:
            ours = run_ours(path, org, user, membership)
        job = ours["job"]
        ours_rate = args.rows / ours["seconds"]
        print(f"import_s={ours['seconds']:.2f}")
        print(f"created={job.created_count} updated={job.updated_count} skipped={job.skipped_count} "
              f"failed={job.failed_count} blank={job.blank_rows} stored={ours['stored']}")
        print(f"import_peak_rss_mb={peak_rss_mb():.0f}")
        # The import's worker processes (forked: most of their pages are shared with this one).
        workers_rss = peak_rss_mb(resource.RUSAGE_CHILDREN)
        print(f"import_workers={ours['workers']} import_worker_peak_rss_mb={workers_rss:.0f}")
        # All of the import's processes together, shared pages counted once: the memory it costs.
        print(f"import_total_peak_pss_mb={memory.peak_mb:.0f}")
        if not args.no_peer:
            peer = run_peer(path, args.peer_rows)
            peer_rate = peer["rows"] / peer["seconds"]
            print(f"peer=django-import-export-4.4.3 peer_rows={peer['rows']} peer_stored={peer['stored']}")
            print(f"peer_s={peer['seconds']:.2f}")
            print(f"peer_rows_per_s={peer_rate:.0f}")
            print(f"ratio_ours_to_peer={ours_rate / peer_rate:.2f}")
        print(f"import_rows_per_s={ours_rate:.0f}")
    if not args.no_reference:
        reference = run_reference("import_contacts.py", ["--rows", str(args.rows), "--no-peer"],
                                  {"DATABASE_URL": reference_database(url)})
        compare("import_rows_per_s", ours_rate, reference)


if __name__ == "__main__":
    main()
