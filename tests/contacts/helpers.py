"""Shared helpers for contacts tests: run files through the same service as the wizard."""

from __future__ import annotations

import csv
import io

from accounts.actor import Actor
from accounts.models import Membership
from contacts.importing import service
from contacts.importing.storage import errors_path
from contacts.models import Contact, ImportJob


def membership(tenant, role: str = "staff") -> Membership:
    return Membership.objects.get(organization=tenant.org, user=tenant.member(role))


def actor(tenant, role: str = "staff") -> Actor:
    """The member actor of `role` in `tenant` (what the web door builds)."""
    return Actor.member(Membership.objects.select_related("user").get(organization=tenant.org,
                                                                      user=tenant.member(role)))


def upload(tenant, data: bytes, name: str = "patients.csv", role: str = "staff") -> ImportJob:
    with tenant.scope():
        return service.upload_file(actor=actor(tenant, role), name=name, size=len(data), chunks=[data])


def run_file(tenant, data: bytes, name: str = "patients.csv", *, mapping: list[str] | None = None,
             on_existing: str = "update", region: str | None = None, role: str = "staff") -> ImportJob:
    """Upload, accept the guessed mapping (or the given one), run eagerly; returns the finished job."""
    job = upload(tenant, data, name, role)
    with tenant.scope():
        problems = service.configure(actor=actor(tenant, role), job=job,
                                     mapping=mapping or job.mapping, on_existing=on_existing,
                                     default_region=region or tenant.org.default_region)
        assert problems == []
        job.refresh_from_db()
    return job


def error_rows(job: ImportJob) -> list[dict]:
    path = errors_path(job.organization_id, job.uuid)
    if not path.exists():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def contacts_by_phone(tenant) -> dict[str, Contact]:
    with tenant.scope():
        return {c.phone: c for c in Contact.objects.all()}


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)
