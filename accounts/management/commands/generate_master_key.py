"""`manage.py generate_master_key`: print a new key for the front of PHI_MASTER_KEYS."""

from django.core.management.base import BaseCommand

from accounts.crypto import generate_master_key


class Command(BaseCommand):
    help = "Print a new PHI master key (put it first in PHI_MASTER_KEYS, then run rotate_master_key)."

    def handle(self, *args, **options):
        self.stdout.write(generate_master_key())
