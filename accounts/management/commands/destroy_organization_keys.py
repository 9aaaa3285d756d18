"""`manage.py destroy_organization_keys --org ID --yes`: crypto-shred one organisation's PHI."""

from django.core.management.base import BaseCommand, CommandError

from accounts.actor import Actor
from accounts.key_management import destroy_organization_keys
from accounts.models import Organization


class Command(BaseCommand):
    help = "Destroy an organisation's data keys: all its PHI becomes unreadable, backups included."

    def add_arguments(self, parser):
        parser.add_argument("--org", type=int, required=True)
        parser.add_argument("--yes", action="store_true", help="Confirm: this cannot be undone.")

    def handle(self, *args, org, yes, **options):
        organization = Organization.objects.filter(pk=org).first()
        if organization is None:
            raise CommandError(f"No organisation with id {org}.")
        if not yes:
            raise CommandError("This destroys the organisation's PHI for good. Re-run with --yes.")
        destroy_organization_keys(organization, actor=Actor.platform("ops:destroy_organization_keys"))
        self.stdout.write(self.style.SUCCESS(f"Keys of organisation {org} destroyed."))
