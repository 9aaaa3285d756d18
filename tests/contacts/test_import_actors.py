"""Import and export check their own permission and organisation with the door's Actor
(issue 14 #1): a wrong role is refused, another organisation's actor is refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from accounts.actor import Actor, WrongOrganization
from accounts.roles import Perm
from contacts import exporting
from contacts.importing import service
from contacts.models import Contact, ImportJob
from tests.contacts.helpers import actor, csv_bytes, run_file, upload

DATA = csv_bytes([["First name", "Phone"], ["Marie", "4155550142"], ["Bad", "12"]])


def test_a_viewer_cannot_upload(tenant_a):
    with tenant_a.scope(), pytest.raises(PermissionDenied):
        service.upload_file(actor=actor(tenant_a, "viewer"), name="p.csv", size=len(DATA), chunks=[DATA])
    with tenant_a.scope():
        assert not ImportJob.objects.exists()


@pytest.mark.parametrize("who", ["viewer", "other-organisation", "key-without-import"])
def test_wrong_actors_cannot_configure_switch_rows_or_read_the_error_file(tenant_a, tenant_b, who):
    job = upload(tenant_a, DATA)
    done = run_file(tenant_a, DATA)
    wrong = {"viewer": actor(tenant_a, "viewer"), "other-organisation": actor(tenant_b, "owner"),
             "key-without-import": Actor.api_key(key_id="k1", organization_id=tenant_a.org.pk,
                                                 permissions={Perm.CONTACTS_VIEW})}[who]
    refused = WrongOrganization if who == "other-organisation" else PermissionDenied
    with tenant_a.scope():
        with pytest.raises(refused):
            service.configure(actor=wrong, job=job, mapping=job.mapping, default_region="US",
                              on_existing="update")
        with pytest.raises(refused):
            service.set_first_row(actor=wrong, job=job, is_data=True)
        with pytest.raises(refused):
            service.error_file(actor=wrong, job=done)
        job.refresh_from_db()
    assert (job.status, job.has_header) == ("uploaded", True)


def test_an_api_key_with_the_import_scope_imports_with_no_user_as_creator(tenant_a):
    key = Actor.api_key(key_id="k2", organization_id=tenant_a.org.pk, permissions={Perm.CONTACTS_IMPORT})
    with tenant_a.scope():
        job = service.upload_file(actor=key, name="p.csv", size=len(DATA), chunks=[DATA])
        assert service.configure(actor=key, job=job, mapping=job.mapping, default_region="US",
                                 on_existing="update") == []
        job.refresh_from_db()
        assert (job.created_by_id, job.status, Contact.objects.count()) == (None, "done", 1)


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_only_exporters_can_export(tenant_a, role):
    with tenant_a.scope(), pytest.raises(PermissionDenied):
        exporting.export_contacts(actor=actor(tenant_a, role), queryset=Contact.objects.all(),
                                  columns=["phone"], file_format="csv")
