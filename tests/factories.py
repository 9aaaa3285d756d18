"""factory-boy factories. Tenant-owned factories need an organisation (and usually a scope)."""

from __future__ import annotations

import factory

from accounts.models import Membership, Organization, User
from accounts.roles import Role

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Clinic {n}")
    slug = factory.Sequence(lambda n: f"clinic-{n}")
    default_region = "US"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.STAFF


class ContactFactory(factory.Factory):
    """Builds contacts through the service, so blind indexes and audit behave as in production."""

    class Meta:
        model = dict

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    phone = factory.Sequence(lambda n: f"+1415555{n % 10000:04d}")
    email = factory.Sequence(lambda n: f"patient{n}@example.test")

    @classmethod
    def _create(cls, model_class, organization=None, **values):
        from contacts.services import create_contact

        return create_contact(actor=system_actor(organization), organization=organization, **values)


def system_actor(owner, job: str = "test-setup"):
    """A system actor of an organisation (or of a row's organisation), for test set-up that calls
    services and selectors directly (they take an actor like every door)."""
    from accounts.actor import Actor

    org_id = getattr(owner, "organization_id", None) or owner.pk
    return Actor.system(job, organization_id=org_id)
