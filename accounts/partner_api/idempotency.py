"""Idempotent POSTs: a retried request with the same ``Idempotency-Key`` and body gets the
original answer without acting twice; the same key with another body is a 422.

The first request claims the key with a row (unique per API key) in its own short
transaction before it acts, so two concurrent retries never both act: the second finds
the claim and is told to retry (409). A 5xx answer releases the claim so a retry can act;
any other answer is stored (encrypted: it can echo PHI) for ``IDEMPOTENCY_KEY_HOURS``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.api_keys import IdempotentRequest
from accounts.partner_api.errors import ApiError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def fingerprint(request) -> str:
    """What makes two requests "the same": method, path and the body — its exact bytes, or for
    a multipart upload its parts (see ``_form_parts``)."""
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), *_body_parts(request)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _body_parts(request) -> Iterator[bytes]:
    if not (request.content_type or "").startswith("multipart/form-data"):
        yield request.body
        return
    # Clients choose a new multipart boundary for every call, so a retry's bytes differ: the
    # form's fields and files are what stays the same. Reading the parsed form (files spooled
    # to disk) also keeps a large upload out of memory, which ``request.body`` would not.
    data = request.data
    for name in sorted(data):
        for value in data.getlist(name):
            if hasattr(value, "chunks"):
                content = hashlib.sha256()
                for chunk in value.chunks():
                    content.update(chunk)
                value.seek(0)
                yield f"file:{name}:{value.name}:{value.size}:".encode() + content.digest()
            else:
                yield f"field:{name}=".encode() + str(value).encode()


def claim(request, api_key) -> IdempotentRequest | Response | None:
    """Claim the request's key: the new claim, a stored answer to replay, or None (no key)."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApiError(status_code=status.HTTP_400_BAD_REQUEST, code="invalid_idempotency_key",
                       message=f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} characters "
                               "(a UUID is a good choice).")
    print_ = fingerprint(request)
    claimed = _insert_claim(api_key, key, print_)
    if claimed is not None:
        return claimed
    earlier = IdempotentRequest.objects.filter(api_key=api_key, key=key).first()
    if earlier is None:  # released between our insert and this read: the client may retry now
        raise _in_progress()
    if earlier.fingerprint != print_:
        raise ApiError(status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, code="idempotency_key_reused",
                       message=f"This {HEADER} was used for a different request. Use a new key for "
                               "a new request; reuse a key only to retry the very same request.",
                       field=HEADER)
    if earlier.state != IdempotentRequest.State.DONE:
        raise _in_progress()
    response = Response(earlier.response_body, status=earlier.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


_TABLE = IdempotentRequest._meta.db_table


def _insert_claim(api_key, key: str, print_: str) -> IdempotentRequest | None:
    """The new claim, or None when the key was claimed before. One statement in autocommit (no
    exception, so no savepoint inside someone else's transaction either): ``ON CONFLICT DO NOTHING``
    on the unique (API key, key). Written out because the ORM's insert cost a tenth of a reply."""
    connection = transaction.get_connection()
    claim = IdempotentRequest(organization_id=api_key.organization_id, api_key_id=api_key.pk, key=key,
                              fingerprint=print_, created_at=timezone.now())
    created_at = IdempotentRequest._meta.get_field("created_at").get_db_prep_value(
        claim.created_at, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_TABLE} (organization_id, api_key_id, key, fingerprint, state, "  # noqa: S608 - constant name
            "response_status, response_body, created_at) VALUES (%s, %s, %s, %s, %s, NULL, NULL, %s) "
            "ON CONFLICT (api_key_id, key) DO NOTHING RETURNING id",
            [claim.organization_id, claim.api_key_id, key, print_, claim.state, created_at])
        row = cursor.fetchone()
    if row is None:
        return None
    claim.pk = row[0]
    claim._state.adding, claim._state.db = False, connection.alias
    return claim


def _in_progress() -> ApiError:
    return ApiError(status_code=status.HTTP_409_CONFLICT, code="idempotency_in_progress",
                    message=f"A request with this {HEADER} is still being processed: retry in a "
                            "few seconds to get its answer.", headers={"Retry-After": "2"})


def settle(claimed: IdempotentRequest, response) -> None:
    """Store the answer (or release the claim after a server error)."""
    if response.status_code >= 500:
        release(claimed)
        return
    data = getattr(response, "data", None)
    # Stored as it was rendered, so a replay is byte-for-byte the same JSON (dates included).
    rendered = json.loads(JSONRenderer().render(data)) if data is not None else None
    sealed = IdempotentRequest._meta.get_field("response_body").encrypt_for(claimed, rendered)
    with transaction.get_connection().cursor() as cursor:  # the row claim() wrote, by primary key
        cursor.execute(f"UPDATE {_TABLE} SET state = %s, response_status = %s, response_body = %s "  # noqa: S608
                       "WHERE id = %s",
                       [IdempotentRequest.State.DONE, response.status_code, sealed, claimed.pk])


def release(claimed: IdempotentRequest) -> None:
    """Drop a claim whose request failed on our side, so the client's retry can act."""
    IdempotentRequest.objects.filter(pk=claimed.pk).delete()


def purge_expired(now=None) -> int:
    """Forget keys older than the retention window; returns how many were removed."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
