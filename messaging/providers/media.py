"""Downloading a patient's attachment from the provider (``ProviderBackend.fetch_media``).

Providers hand us a media id or a URL that needs the channel's credentials; the bytes are
fetched once, size-capped while streaming, and the caller stores them (encrypted) instead of
the URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class MediaUnavailable(Exception):
    """The provider would not give the media (expired, unknown, auth, network). No PHI in it."""


class MediaTooLarge(MediaUnavailable):
    """The media is larger than the caller's limit."""


@dataclass(frozen=True)
class FetchedMedia:
    """The attachment's bytes and the content type the provider declared."""

    content: bytes = field(repr=False)
    content_type: str = ""


def download(client: httpx.Client, url: str, *, headers: dict[str, str] | None = None,
             auth: tuple[str, str] | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
             follow_redirects: bool = True) -> FetchedMedia:
    """GET ``url``, following redirects unless told not to (httpx drops credentials on a
    cross-host redirect), reading at most ``max_bytes`` + 1 bytes."""
    try:
        with client.stream("GET", url, headers=headers or {}, auth=auth,
                           follow_redirects=follow_redirects) as response:
            if response.status_code != 200:
                raise MediaUnavailable(f"media download answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise MediaTooLarge("media is larger than the limit")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise MediaTooLarge("media is larger than the limit")
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
    except httpx.HTTPError as exc:
        raise MediaUnavailable(f"media download failed ({type(exc).__name__})") from None
    return FetchedMedia(b"".join(chunks), content_type)
