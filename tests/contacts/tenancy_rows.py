from contacts.models import ContactNameToken
from contacts.services import create_contact
from tests.tenancy import row_maker


@row_maker("contacts.contact")
def contact(org):
    return create_contact(organization=org, first_name="Iso", last_name="Lated", phone="+14155550199")


@row_maker("contacts.contactnametoken")
def name_token(org):
    return ContactNameToken.objects.filter(contact=contact(org)).first()
