import itertools
import uuid

from contacts.custom_fields import define_custom_field
from contacts.models import ContactNameToken, ContactTag, ImportColumnMemory, ImportJob, Tag
from contacts.services import create_contact
from tests.tenancy import row_maker

_phones = itertools.count(100)  # one contact per phone per organisation (contact_unique_phone)


@row_maker("contacts.contact")
def contact(org):
    return create_contact(organization=org, first_name="Iso", last_name="Lated",
                          phone=f"+1415555{next(_phones):04d}")


@row_maker("contacts.contactnametoken")
def name_token(org):
    return ContactNameToken.objects.filter(contact=contact(org)).first()


@row_maker("contacts.tag")
def tag(org):
    return Tag.objects.create(organization=org, name=f"tag-{uuid.uuid4().hex[:6]}")


@row_maker("contacts.contacttag")
def contact_tag(org):
    return ContactTag.objects.create(organization=org, contact=contact(org), tag=tag(org))


@row_maker("contacts.customfield")
def custom_field(org):
    return define_custom_field(organization=org, label=f"Insurer {uuid.uuid4().hex[:4]}", field_type="text")


@row_maker("contacts.importcolumnmemory")
def import_memory(org):
    return ImportColumnMemory.objects.create(organization=org, header_digest=uuid.uuid4().hex, target="phone")


@row_maker("contacts.importjob")
def import_job(org):
    return ImportJob.objects.create(organization=org, file_format="csv", original_name="list.csv")
