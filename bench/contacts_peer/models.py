"""A plain contact of the same shape as contacts.Contact, unencrypted, for the peer benchmark.

Never migrated: bench/import_contacts.py creates its table with schema_editor at run time.
"""

from django.db import models


class PlainContact(models.Model):
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    phone = models.CharField(max_length=32, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    date_of_birth = models.CharField(max_length=32, blank=True, default="")
    insurance = models.CharField(max_length=200, blank=True, default="")
    visits = models.CharField(max_length=32, blank=True, default="")
    last_visit = models.CharField(max_length=32, blank=True, default="")

    def __str__(self) -> str:
        return f"PlainContact #{self.pk}"
