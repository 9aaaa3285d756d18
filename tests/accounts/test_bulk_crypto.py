"""The bulk paths (Sealer, Indexer) give exactly what the per-value functions give."""

from __future__ import annotations

import base64
import os
import pickle

from accounts import blind_index, crypto


def through_a_pipe(obj):
    """What an import worker receives (our own pickles, between our own processes)."""
    return pickle.loads(pickle.dumps(obj))  # noqa: S301


def nonce_of(token: str) -> bytes:
    body = token.split(":", 2)[2]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:12]


def test_a_sealer_writes_ciphertext_that_decrypt_reads(tenant_a):
    sealer = crypto.sealer_for(tenant_a.org.pk)
    token = sealer.seal("Marie", "contacts.contact.first_name")
    assert crypto.key_id_of(token) == crypto.key_id_of(
        crypto.encrypt("x", organization_id=tenant_a.org.pk, context="t.c"))
    assert crypto.decrypt(token, context="contacts.contact.first_name") == "Marie"
    again = through_a_pipe(sealer)
    assert crypto.decrypt(again.seal("Curie", "c"), context="c") == "Curie"
    assert len({nonce_of(sealer.seal("same", "c")) for _ in range(600)}) == 600  # across pool refills


def test_a_forked_process_never_reuses_the_parents_nonces(tenant_a):
    sealer = crypto.sealer_for(tenant_a.org.pk)
    sealer.seal("warm the pool", "c")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child seals with the sealer it inherited
        try:
            os.write(write, nonce_of(sealer.seal("child", "c")))
        finally:
            os._exit(0)
    os.close(write)
    child_nonce = os.read(read, 12)
    os.close(read)
    os.waitpid(pid, 0)
    assert child_nonce != nonce_of(sealer.seal("parent", "c"))


def test_an_indexer_gives_the_same_blind_indexes(tenant_a):
    org = tenant_a.org.pk
    for indexer in (blind_index.indexer_for(org), through_a_pipe(blind_index.indexer_for(org))):
        assert indexer.phone("+14155550142") == blind_index.phone_index(org, "+14155550142")
        assert indexer.email(" Marie@Example.org") == blind_index.email_index(org, "marie@example.org")
        expected = blind_index.name_indexes(org, "Zoë-Ann", "O'Brien")
        for _ in range(2):  # computed, then remembered
            assert indexer.names("Zoë-Ann", "O'Brien", None) == expected
