"""One contact per phone number per organisation (issue 15 #16).

Existing duplicates are never merged or deleted here: which of two records is right is a
person's decision (they may hold different consent, custom values, conversations). If any
exist, the migration stops and says how to find them.
"""

from django.db import migrations, models

def find_duplicates(vendor: str) -> str:
    ids = "array_agg(id ORDER BY id)" if vendor == "postgresql" else "group_concat(id)"
    return (f"SELECT organization_id, phone_index, {ids} AS contact_ids "
            "FROM contacts_contact WHERE phone_index <> '' "
            "GROUP BY organization_id, phone_index HAVING count(*) > 1")


def refuse_existing_duplicates(apps, schema_editor):
    FIND_DUPLICATES = find_duplicates(schema_editor.connection.vendor)  # noqa: N806
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), count(DISTINCT organization_id) FROM ({FIND_DUPLICATES}) AS d")
        groups, organisations = cursor.fetchone()
    if groups:
        raise RuntimeError(
            f"Cannot add the unique phone constraint: {groups} phone number(s) in {organisations} "
            "organisation(s) belong to more than one contact. Nothing was changed. Find them with\n"
            f"    {FIND_DUPLICATES};\n"
            "(`manage.py dbshell`), keep one contact of each group (merge what you need by hand, then "
            "delete the others through the app or the admin), and run `manage.py migrate` again. "
            "On a development database you may instead start from an empty one (`manage.py flush`)."
        )


class Migration(migrations.Migration):

    dependencies = [
        ("contacts", "0003_drop_redundant_fk_indexes"),
    ]

    operations = [
        migrations.RunPython(refuse_existing_duplicates, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(condition=models.Q(("phone_index", ""), _negated=True),
                                               fields=("organization", "phone_index"),
                                               name="contact_unique_phone"),
        ),
        # The unique index serves every lookup by phone: the plain one would only cost inserts.
        migrations.RemoveIndex(model_name="contact", name="contact_org_phone_idx"),
    ]
