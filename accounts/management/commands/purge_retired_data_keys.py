"""`manage.py purge_retired_data_keys [--org ID]`: delete rotated-out data keys nothing still needs."""

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scopes_disabled

from accounts.actor import Actor
from accounts.key_management import purge_retired_data_keys
from accounts.models import Organization


class Command(BaseCommand):
    help = ("Delete decrypt-only data keys retired longer than the key cache's lifetime and no longer "
            "naming any row (rows written with them late are re-encrypted first).")

    def add_arguments(self, parser):
        parser.add_argument("--org", type=int, help="Only this organisation (default: every one)")

    def handle(self, *args, org=None, **options):
        organization = None
        if org is not None:
            with scopes_disabled():  # ops command: addresses an organisation by id
                organization = Organization.objects.filter(pk=org).first()
            if organization is None:
                raise CommandError(f"No organisation with id {org}.")
        result = purge_retired_data_keys(organization, actor=Actor.platform("ops:purge_retired_data_keys"))
        self.stdout.write(self.style.SUCCESS(
            f"Deleted {len(result.deleted_key_ids)} retired key(s); kept {len(result.kept_key_ids)} "
            "(still within the cache lifetime, or still decrypting a row)."))
