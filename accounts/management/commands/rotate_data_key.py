"""`manage.py rotate_data_key --org ID`: new data key for one organisation, rows re-encrypted."""

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scopes_disabled

from accounts.actor import Actor
from accounts.key_management import rotate_data_key
from accounts.models import Organization


class Command(BaseCommand):
    help = "Rotate an organisation's PHI data key and re-encrypt its rows (resumable: re-run after a stop)."

    def add_arguments(self, parser):
        parser.add_argument("--org", type=int, required=True, help="Organisation id")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, org, batch_size, **options):
        with scopes_disabled():  # ops command: addresses an organisation by id
            organization = Organization.objects.filter(pk=org).first()
        if organization is None:
            raise CommandError(f"No organisation with id {org}.")
        progress = rotate_data_key(organization, actor=Actor.platform("ops:rotate_data_key"),
                                   batch_size=batch_size)
        self.stdout.write(self.style.SUCCESS(
            f"Re-encrypted {progress.rows_reencrypted} row(s). The old key now only decrypts; "
            "purge_retired_data_keys deletes it once no process can still hold it."))
