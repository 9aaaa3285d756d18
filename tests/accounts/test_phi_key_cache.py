"""A data key is shared with other threads only once the transaction that made it commits."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from accounts import crypto
from accounts.models import DataKey
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


def cached_primary(org_id: int) -> int | None:
    return crypto._primary.get((org_id, "data"))


def test_a_key_made_in_a_rolled_back_transaction_never_reaches_other_threads():
    org = OrganizationFactory()
    seen_from_other_thread = {}

    with pytest.raises(Rollback), transaction.atomic():
        token = crypto.encrypt("Ada", organization_id=org.pk, context="t.c")
        key_id = crypto.key_id_of(token)
        # The creating thread keeps using its key inside its transaction...
        assert crypto.key_id_of(crypto.encrypt("Lovelace", organization_id=org.pk, context="t.c")) == key_id
        # ...but the process-wide cache does not offer it to anyone else.
        assert cached_primary(org.pk) is None and key_id not in crypto._by_id

        def other_thread():
            seen_from_other_thread["cached"] = cached_primary(org.pk)
            connection.close()

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        raise Rollback

    assert seen_from_other_thread["cached"] is None
    assert not DataKey.objects.filter(pk=key_id).exists()
    # After the rollback a fresh key is made, and data written with it stays readable.
    token = crypto.encrypt("Ada", organization_id=org.pk, context="t.c")
    assert crypto.key_id_of(token) != key_id
    crypto.forget_cached_keys()
    assert crypto.decrypt(token, context="t.c") == "Ada"


def test_a_key_made_in_a_committed_transaction_is_shared_after_commit():
    org = OrganizationFactory()
    with transaction.atomic():
        key_id = crypto.key_id_of(crypto.encrypt("Ada", organization_id=org.pk, context="t.c"))
        assert cached_primary(org.pk) is None
    crypto.encrypt("Grace", organization_id=org.pk, context="t.c")
    assert cached_primary(org.pk) == key_id


def test_a_key_made_outside_any_transaction_is_shared_at_once():
    org = OrganizationFactory()
    key_id = crypto.key_id_of(crypto.encrypt("Ada", organization_id=org.pk, context="t.c"))
    assert cached_primary(org.pk) == key_id
