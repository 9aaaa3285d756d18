"""`manage.py load_demo`: the Demo Clinic for `make run`. Idempotent: a second run changes nothing.

It lives in messaging, the highest app it seeds (accounts, contacts and a channel): imports only
point down the app stack.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_scopes import scope, scopes_disabled

from accounts.actor import Actor
from accounts.models import Organization, User
from accounts.services import create_organization
from contacts.services import create_contact
from messaging.models import Channel
from messaging.providers import default_provider_key

DEMO_EMAIL = "owner@demo.clinic"
DEMO_CONTACTS = [
    {"first_name": "Ada", "last_name": "Lovelace", "phone": "+14155550101", "email": "ada@example.org",
     "date_of_birth": "1985-12-10"},
    {"first_name": "Grace", "last_name": "Hopper", "phone": "+14155550102", "email": "grace@example.org",
     "date_of_birth": "1976-12-09"},
    {"first_name": "Alan", "last_name": "Turing", "phone": "+14155550103", "email": "alan@example.org",
     "date_of_birth": "1990-06-23"},
    {"first_name": "Zoë", "last_name": "Nelson", "phone": "+14155550104", "email": None,
     "date_of_birth": None},
]


class Command(BaseCommand):
    help = "Create the Demo Clinic (owner account, demo contacts, a simulator channel) once."

    def handle(self, *args, **options):
        password_file = settings.VAR_DIR / "demo-owner-password.txt"
        # Management command creating the demo tenant: there is no request scope yet.
        with scopes_disabled():  # ops command: no request scope yet
            org = Organization.objects.filter(slug="demo-clinic").first()
        if org is None:
            password = secrets.token_urlsafe(12)
            with transaction.atomic():
                owner = User.objects.create_user(DEMO_EMAIL, password, full_name="Demo Owner")
                org = create_organization(name="Demo Clinic", owner=owner, default_region="US")
                org.slug = "demo-clinic"
                org.save(update_fields=["slug"])
                with scope(organization=org):
                    self._seed(org, owner)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n", encoding="utf-8")
            password_file.chmod(0o600)
            self.stdout.write(self.style.SUCCESS("Created the Demo Clinic."))
        password = (
            password_file.read_text(encoding="utf-8").strip() if password_file.exists() else "(see var/)"
        )
        self.stdout.write(
            "\n  Demo Clinic is ready at http://127.0.0.1:8000/\n"
            f"  Sign in as {DEMO_EMAIL} with password {password}\n"
            "  Owners must use two-factor authentication: the first sign-in takes you to set up an\n"
            "  authenticator app (scan the QR code, or type the key shown, then enter its code).\n"
        )

    def _seed(self, org, owner):
        for values in DEMO_CONTACTS:
            create_contact(actor=Actor.system("ops:load_demo", organization_id=org.pk), organization=org,
                           **values)
        # The embedded default provider: no provider account needed.
        Channel.objects.create(
            organization=org, name="Simulator", provider=default_provider_key(),
            address="+15005550006", webhook_secret=Channel.new_webhook_secret(),
            rate_limit_per_second=10, is_default=True,  # sign-in codes and replies go out here
        )
