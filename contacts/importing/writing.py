"""Writing clean rows in batches: dedupe (in the file and against the database, through the
phone blind index), then bulk inserts of new contacts and bulk updates of existing ones.

One batch is one transaction (the runner wraps it). New rows' encrypted columns arrive sealed
(contacts.importing.preparing) and go in as they are; bulk_update gets values pre-encrypted with
encrypt_for. Only this module, in the process that owns the connection, talks to the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.crypto import Ciphertext
from accounts.fields import encrypted_fields
from billing import QuotaExceeded
from billing.services import check_contacts
from contacts.importing.normalising import CleanRow, Issue
from contacts.models import Contact, ContactNameToken, ContactTag, ImportJob, Origin, Tag

_TAKEN_MEANWHILE = ("another contact with this phone number was added while the import ran (by someone else) "
                    "— this row was not imported: open that contact and add this row's details by hand, "
                    "or import this row again with “update” chosen")


def _is_phone_conflict(exc: BaseException) -> bool:
    """Whether an insert was refused by `contact_unique_phone`: PostgreSQL names the constraint
    (psycopg's own error on the COPY path, Django's IntegrityError around it on the ORM path);
    SQLite names the columns."""
    for error in (exc, exc.__cause__):
        diag = getattr(error, "diag", None)
        if diag is not None and getattr(diag, "constraint_name", None) == "contact_unique_phone":
            return True
    return isinstance(exc, IntegrityError) and "contacts_contact.phone_index" in str(exc)


@dataclass
class BatchOutcome:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    over_cap: int = 0  # new contacts left out: the plan's contact cap (included in skipped)
    consent_changes: int = 0
    issues: list[Issue] = field(default_factory=list)


class BatchWriter:
    """Writes one import's batches; remembers phones already seen earlier in the file."""

    def __init__(self, *, organization_id: int, on_existing: str):
        self.organization_id = organization_id
        self.update_existing = on_existing == ImportJob.OnExisting.UPDATE
        # First row number of each phone in the file, keyed by 64 bits of its blind index (ints are
        # ~3x smaller than the hex string: a 1M-row file stays well under the memory budget).
        self.seen: dict[int, int] = {}
        self._tags: dict[str, Tag] = {}
        self._encrypted = {f.attname: f for f in encrypted_fields(Contact)}
        self.use_copy = connection.vendor == "postgresql"  # else the ORM path (SQLite)

    def remember(self, rows: list[CleanRow]) -> None:
        """Rows written before an interruption: later rows with the same phone are duplicates."""
        for row in rows:
            self.seen.setdefault(int(row.phone_index[:16], 16), row.number)

    def write(self, rows: list[CleanRow]) -> BatchOutcome:
        out = BatchOutcome()
        fresh: list[CleanRow] = []
        for row in rows:
            key = int(row.phone_index[:16], 16)
            first = self.seen.get(key)
            if first is not None:
                out.skipped += 1
                reason = f"the same phone number as row {first} — only row {first} was imported"
                out.issues.append(Issue(row.number, "skipped", "", reason))
                continue
            self.seen[key] = row.number
            fresh.append(row)
        if not fresh:
            return out
        existing = self._existing([r.phone_index for r in fresh])
        new_rows = [r for r in fresh if r.phone_index not in existing]
        old_rows = [r for r in fresh if r.phone_index in existing]
        if new_rows:
            new_rows = self._within_contact_cap(new_rows, out)
        if new_rows:
            self._create_racing(new_rows, out)
        if old_rows and self.update_existing:
            self._update(old_rows, existing, out)
        elif old_rows:
            out.skipped += len(old_rows)
            out.issues += [Issue(r.number, "skipped", "", "a contact with this phone number already exists "
                                 "— skipped, as chosen (choose “update” to change existing contacts)")
                           for r in old_rows]
        return out

    def _within_contact_cap(self, rows: list[CleanRow], out: BatchOutcome) -> list[CleanRow]:
        """The new rows the plan's contact cap still admits; the rest reported, row by row.

        Billing counts under the subscription's row lock, held until this chunk commits, so two
        imports racing for the last free contacts cannot both take them.
        """
        try:
            fits = check_contacts(organization_id=self.organization_id, adding=len(rows))
        except QuotaExceeded as refusal:
            fits, reason = 0, refusal.message
        else:
            reason = ("your plan's contact cap is reached: this row was not imported. Upgrade the plan "
                      "(Billing page) or delete contacts you no longer need, then import the file again")
        if fits >= len(rows):
            return rows
        left_out = rows[fits:]
        out.skipped += len(left_out)
        out.over_cap += len(left_out)
        out.issues += [Issue(r.number, "skipped", "", reason) for r in left_out]
        return rows[:fits]

    def _existing(self, indexes: list[str]) -> dict[str, Contact]:
        """The contact already holding each of these phones (the oldest, if several)."""
        if self.use_copy:
            pks = self._existing_pks(indexes)
            if not pks:
                return {}
            qs = Contact.objects.filter(pk__in=pks).order_by("pk")
        else:
            qs = Contact.objects.filter(phone_index__in=indexes).order_by("pk")
        if not self.update_existing:
            qs = qs.only("pk", "phone_index", "organization_id")  # skip mode never decrypts
        found: dict[str, Contact] = {}
        for contact in qs:
            found.setdefault(contact.phone_index, contact)
        return found

    def _existing_pks(self, indexes: list[str]) -> list[int]:
        # One index probe per phone, whatever the statistics say. With `phone_index IN (...)` a
        # planner whose statistics predate the import (they always do, mid-import) may prefer to
        # read every contact of the organisation through an index on organization_id alone, once
        # per batch: quadratic in the file's size. OFFSET 0 keeps the lateral probe a probe, and
        # `phone_index <> ''` lets the partial unique index (contact_unique_phone) serve it.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.id FROM unnest(%s::text[]) AS wanted(phone_index) CROSS JOIN LATERAL "
                "(SELECT id FROM contacts_contact WHERE organization_id = %s "
                "AND phone_index = wanted.phone_index AND phone_index <> '' OFFSET 0) AS c",
                [indexes, self.organization_id],
            )
            return [pk for (pk,) in cursor.fetchall()]

    def _create_racing(self, rows: list[CleanRow], out: BatchOutcome) -> None:
        """Insert new contacts; a phone that someone else gave a contact since the lookup (a staff
        member adding that patient, another import) is reported for its row, the others land.

        The unique constraint `contact_unique_phone` refuses the insert; the batch is retried in
        a savepoint without the rows whose phone now exists (committed meanwhile).
        """
        for _attempt in range(3):
            consent_changes = out.consent_changes
            try:
                with transaction.atomic():  # a savepoint inside the chunk's transaction
                    self._create(rows, out)
                return
            except Exception as exc:
                if not _is_phone_conflict(exc):
                    raise
                out.consent_changes = consent_changes  # counted for rows that were rolled back
            taken = self._existing([r.phone_index for r in rows])
            lost = [r for r in rows if r.phone_index in taken]
            out.skipped += len(lost)
            out.issues += [Issue(r.number, "skipped", "", _TAKEN_MEANWHILE) for r in lost]
            rows = [r for r in rows if r.phone_index not in taken]
            if not rows:
                return
        raise IntegrityError("contact_unique_phone kept refusing an import batch")

    def _create(self, rows: list[CleanRow], out: BatchOutcome) -> None:
        ids = self._copy_new(rows, out) if self.use_copy else self._bulk_create_new(rows, out)
        self._tag([(pk, r.tags) for pk, r in zip(ids, rows, strict=True) if r.tags])
        out.created += len(ids)

    def _copy_new(self, rows: list[CleanRow], out: BatchOutcome) -> list[int]:
        """PostgreSQL: COPY rows in, with ids taken from the table's sequence first.

        Measured: Django's bulk_create spends more time compiling the INSERT (pre_save and
        prepare_value per field and row) than PostgreSQL spends storing it; COPY removes that.
        Encrypted columns arrive sealed (contacts.importing.preparing); a value that did not is
        encrypted here through its field's encrypt_for, as pre_save would.
        """
        now = timezone.now()
        org = self.organization_id
        fields = Contact._meta.concrete_fields
        at = {f.attname: i for i, f in enumerate(fields)}
        holder = SimpleNamespace(organization_id=org)  # what encrypt_for reads the key from
        encrypted = self._encrypted
        # Defaults as pre_save would store them: an encrypted column's default goes in encrypted.
        template = [f.get_default() for f in fields]
        for name, fld in encrypted.items():
            if template[at[name]] is not None:
                template[at[name]] = fld.encrypt_for(holder, template[at[name]])
        for name, value in {"organization_id": org, "origin": Origin.IMPORT, "created_at": now,
                            "updated_at": now}.items():
            template[at[name]] = value
        custom_field = encrypted["custom_values"]
        table = Contact._meta.db_table
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [table, len(rows)])
            ids = [pk for (pk,) in cursor.fetchall()]
            # Build every record *before* COPY starts: a value encrypted here may need to (re)load
            # the data key from the database (the key cache expires), and no other query can run on
            # this connection while a COPY is open — interleaving them deadlocks on psycopg's lock.
            records = []
            for pk, r in zip(ids, rows, strict=True):
                record = template.copy()
                record[at["id"]] = pk
                for name, value in r.values.items():
                    if name in encrypted:  # not sealed by a preparer: encrypt it as pre_save would
                        value = encrypted[name].encrypt_for(holder, value)
                    record[at[name]] = value
                if r.custom:
                    record[at["custom_values"]] = custom_field.encrypt_for(holder, r.custom)
                for name, sealed in r.sealed.items():
                    record[at[name]] = sealed
                record[at["phone_index"]] = r.phone_index
                record[at["email_index"]] = r.email_index
                for channel, opted_in in r.consent.items():
                    record[at[f"{channel}_opted_in"]] = opted_in
                    record[at[f"{channel}_consent_source"]] = "import"
                    record[at[f"{channel}_consent_at"]] = now
                    out.consent_changes += 1
                records.append(record)
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for record in records:
                    copy.write_row(record)
            token_table = ContactNameToken._meta.db_table
            copy_tokens = f"COPY {token_table} (organization_id, contact_id, digest) FROM STDIN"
            with cursor.cursor.copy(copy_tokens) as copy:
                for pk, r in zip(ids, rows, strict=True):
                    for digest in r.name_digests:
                        copy.write_row((org, pk, digest))
        return ids

    def _bulk_create_new(self, rows: list[CleanRow], out: BatchOutcome) -> list[int]:
        now = timezone.now()
        org = self.organization_id
        contacts = []
        for r in rows:
            values = {**r.values, "custom_values": r.custom or None,
                      **{name: Ciphertext(sealed) for name, sealed in r.sealed.items()}}
            contact = Contact(organization_id=org, origin=Origin.IMPORT, phone_index=r.phone_index,
                              email_index=r.email_index, **values)
            for channel, opted_in in r.consent.items():
                self._consent(contact, channel, opted_in, now)
                out.consent_changes += 1
            contacts.append(contact)
        Contact.objects.bulk_create(contacts, batch_size=len(contacts))
        ContactNameToken.objects.bulk_create(
            [ContactNameToken(organization_id=org, contact_id=c.pk, digest=d)
             for c, r in zip(contacts, rows, strict=True) for d in r.name_digests],
            batch_size=5000,
        )
        return [c.pk for c in contacts]

    def _update(self, rows: list[CleanRow], existing: dict[str, Contact], out: BatchOutcome) -> None:
        now = timezone.now()
        changed_contacts: list[Contact] = []
        changed_fields: set[str] = set()
        renamed: list[tuple[Contact, set[str]]] = []
        tagged: list[tuple[int, list[str]]] = []
        for r in rows:
            contact = existing[r.phone_index]
            values, custom = self._opened(r)
            fields = {k for k, v in values.items() if getattr(contact, k) != v}
            if "timezone" in fields and contact.timezone:
                fields.discard("timezone")  # a derived zone never overwrites a known one
            for key in fields:
                setattr(contact, key, values[key])
            if custom:
                merged = {**(contact.custom_values or {}), **custom}
                if merged != contact.custom_values:
                    contact.custom_values = merged
                    fields.add("custom_values")
            for channel, opted_in in r.consent.items():
                if getattr(contact, f"{channel}_opted_in") is not opted_in:
                    self._consent(contact, channel, opted_in, now)
                    fields |= {f"{channel}_opted_in", f"{channel}_consent_source", f"{channel}_consent_at"}
                    out.consent_changes += 1
            if "email" in fields:
                contact.email_index = r.email_index
                fields.add("email_index")
            if {"first_name", "last_name"} & fields:
                renamed.append((contact, r.name_digests))
            if fields:
                contact.updated_at = now
                changed_fields |= fields | {"updated_at"}
                changed_contacts.append(contact)
            if r.tags:
                tagged.append((contact.pk, r.tags))
        self._tag(tagged)
        out.updated += len(rows)
        if not changed_contacts:
            return
        for contact in changed_contacts:
            for name in changed_fields & self._encrypted.keys():
                # bulk_update skips pre_save: hand it ciphertext (Ciphertext values pass through).
                fld = self._encrypted[name]
                setattr(contact, name, fld.encrypt_for(contact, getattr(contact, name)))
        Contact.objects.bulk_update(changed_contacts, sorted(changed_fields), batch_size=1000)
        if renamed:
            ContactNameToken.objects.filter(contact_id__in=[c.pk for c, _ in renamed]).delete()
            ContactNameToken.objects.bulk_create([
                ContactNameToken(organization_id=self.organization_id, contact_id=c.pk, digest=d)
                for c, digests in renamed for d in digests
            ])

    def _opened(self, row: CleanRow) -> tuple[dict, dict]:
        """A row's plaintext values and custom values, to compare with an existing contact.

        Preparers ship encrypted columns sealed only (plaintext too would double what crosses
        from the workers), so the few rows that update a contact decrypt theirs here.
        """
        values, custom = dict(row.values), row.custom
        for name, sealed in row.sealed.items():
            value = self._encrypted[name].from_db_value(sealed, None, connection)
            if name == "custom_values":
                custom = value
            else:
                values[name] = value
        return values, custom

    @staticmethod
    def _consent(contact: Contact, channel: str, opted_in: bool, now) -> None:
        setattr(contact, f"{channel}_opted_in", opted_in)
        setattr(contact, f"{channel}_consent_source", "import")
        setattr(contact, f"{channel}_consent_at", now)

    def _tag(self, pairs: list[tuple[int, list[str]]]) -> None:
        if not pairs:
            return
        wanted = {name for _, names in pairs for name in names} - self._tags.keys()
        if wanted:
            Tag.objects.bulk_create([Tag(organization_id=self.organization_id, name=n) for n in wanted],
                                    ignore_conflicts=True)
            self._tags.update({t.name: t for t in Tag.objects.filter(name__in=wanted)})
        ContactTag.objects.bulk_create(
            [ContactTag(organization_id=self.organization_id, contact_id=cid, tag=self._tags[n])
             for cid, names in pairs for n in set(names)],
            ignore_conflicts=True, batch_size=5000,
        )
