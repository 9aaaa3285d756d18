"""Record that a statement was paid (manual invoicing: the operator saw the bank transfer)."""

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope, scopes_disabled

from accounts.actor import Actor
from billing.gateway import gateway
from billing.models import Statement


class Command(BaseCommand):
    help = "Mark statement NUMBER paid; a past-due subscription becomes active again."

    def add_arguments(self, parser):
        parser.add_argument("number", help="The statement number, e.g. CR-202612-000042.")

    def handle(self, *args, number: str, **options):
        with scopes_disabled():  # ops: the statement number names its organisation
            statement = Statement.objects.filter(number=number).first()
        if statement is None:
            raise CommandError(f"No statement {number}. Check the number on the statement's PDF.")
        actor = Actor.system("ops:record_payment", organization_id=statement.organization_id)
        with scope(organization=statement.organization_id):
            statement = gateway().record_payment(statement, actor=actor)
        self.stdout.write(f"{statement.number} status={statement.status}")
