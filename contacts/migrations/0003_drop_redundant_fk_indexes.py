"""Drop three single-column foreign-key indexes that composite indexes already cover: each is
one more index to update for every row a bulk import inserts.

- contacts_contact.organization_id: (organization_id, phone_index) and (organization_id,
  email_index) lead with it.
- contacts_contactnametoken.organization_id: (organization_id, digest) leads with it.
- contacts_contactnametoken.contact_id: the (contact_id, digest) unique constraint leads with it.

Only the indexes go: Django's AlterField would also drop and re-add each foreign key, which
re-checks every row under an exclusive lock.
"""

import django.db.models.deletion
from django.db import migrations, models

# (table, column, index name Django gave it)
INDEXES = [
    ("contacts_contact", "organization_id", "contacts_contact_organization_id_1f9763f9"),
    ("contacts_contactnametoken", "contact_id", "contacts_contactnametoken_contact_id_c69fe963"),
    ("contacts_contactnametoken", "organization_id", "contacts_contactnametoken_organization_id_ab276b4b"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_access_security'),
        ('contacts', '0002_contact_custom_values_contact_language_and_more'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{name}"',
                                  reverse_sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")')
                for table, column, name in INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='contact',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name='contacts', to='accounts.organization'),
                ),
                migrations.AlterField(
                    model_name='contactnametoken',
                    name='contact',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name='name_tokens', to='contacts.contact'),
                ),
                migrations.AlterField(
                    model_name='contactnametoken',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name='+', to='accounts.organization'),
                ),
            ],
        ),
    ]
