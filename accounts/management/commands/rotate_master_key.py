"""`manage.py rotate_master_key`: re-wrap every data key with the newest master key."""

from django.core.management.base import BaseCommand

from accounts.actor import Actor
from accounts.key_management import rotate_master_key


class Command(BaseCommand):
    help = ("Re-wrap all organisation data keys with the first key of PHI_MASTER_KEYS. "
            "Afterwards the old master key may be removed from the ring.")

    def handle(self, *args, **options):
        count = rotate_master_key(actor=Actor.platform("ops:rotate_master_key"))
        self.stdout.write(self.style.SUCCESS(f"Re-wrapped {count} data key(s)."))
