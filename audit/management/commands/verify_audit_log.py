"""`manage.py verify_audit_log [--org ID]`: exit 0 on an intact log, 1 naming the first bad event."""

from django.core.management.base import BaseCommand, CommandError

from audit.verification import chain_keys, verify_chain


class Command(BaseCommand):
    help = "Verify the hash chains of the audit log; fails on the first altered, removed or reordered event."

    def add_arguments(self, parser):
        parser.add_argument("--org", type=int, help="Verify only this organisation's chain (its id).")

    def handle(self, *args, org=None, **options):
        failures = 0
        for key in chain_keys(org):
            report = verify_chain(key)
            if report.ok:
                self.stdout.write(f"{key}: {report.events} events, intact")
                continue
            failures += 1
            where = f"event id {report.first_bad_event_id}" if report.first_bad_event_id else "tail"
            self.stderr.write(f"{key}: BROKEN at seq #{report.first_bad_seq} ({where}): {report.reason}")
        if failures:
            raise CommandError(f"{failures} audit chain(s) failed verification.")
        self.stdout.write(self.style.SUCCESS("Audit log intact."))
