"""Streamed responses that keep their door's tenant scope and audit context.

A view returns a StreamingHttpResponse and its middleware closes the tenant scope (and the
audit context) as soon as the view returns — before the WSGI server pulls the first chunk.
Anything the body reads lazily (tag names, custom fields, a key reload) then meets no scope
and raises ScopeError mid-download. ``stream_in_scope`` wraps the body: each chunk is made
inside the organisation's scope and the request's audit context, and ``on_complete`` runs
(in that scope and context) only after the last chunk has been handed to the server.

Every download door uses it: contact exports, import error files, later the API's downloads.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator

from django_scopes import scope

from audit import context as audit_context


@contextlib.contextmanager
def _bound(captured: audit_context.RequestContext) -> Iterator[None]:
    token = audit_context.bind(**captured.__dict__)
    try:
        yield
    finally:
        audit_context.reset(token)


def stream_in_scope(chunks: Iterable[bytes], *, organization,
                    on_complete: Callable[[int], None] | None = None,
                    on_interrupted: Callable[[int, str], None] | None = None) -> Iterator[bytes]:
    """Yield ``chunks`` with every step run inside ``organization``'s scope and the audit context
    of the caller (captured now, while the request is still being handled).

    ``on_complete(chunks_sent)`` runs after the last chunk went out; ``on_interrupted(chunks_sent,
    why)`` if the body failed (``why="error"``, the error is re-raised) or the client went away
    (``why="closed"``: the server closed the response before its end).
    """
    captured = audit_context.current()

    def run(step: Callable[[], object]) -> object:
        with scope(organization=organization), _bound(captured):
            return step()

    def generator() -> Iterator[bytes]:
        source = None
        sent = 0
        finished = False
        try:
            source = run(lambda: iter(chunks))
            while True:
                # The scope is entered around each step and left before the yield: a generator's
                # context variables would otherwise leak into whatever code pulls the next chunk.
                try:
                    chunk = run(lambda: next(source, None))
                except Exception:
                    if on_interrupted is not None:
                        run(functools.partial(on_interrupted, sent, "error"))
                    finished = True
                    raise
                if chunk is None:
                    break
                yield chunk
                sent += 1
            finished = True
            if on_complete is not None:
                run(functools.partial(on_complete, sent))
        finally:
            if not finished and on_interrupted is not None:
                run(functools.partial(on_interrupted, sent, "closed"))
            close = getattr(source, "close", None)
            if close is not None:
                run(close)

    return generator()
