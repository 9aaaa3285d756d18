"""Photo answers: fetched from the provider, checked to be an image, stored encrypted.

The provider's URL or media id is never stored: only the bytes (base64, sealed under the
organisation's data key by the encrypted column) and what kind of image they are.
"""

from __future__ import annotations

import base64

from campaigns.intake.answers import InvalidAnswer
from campaigns.intake.models import IntakePhoto
from campaigns.intake.texts import text
from messaging.channel_config import backend_for, channel_config
from messaging.models import Message
from messaging.providers.media import MediaTooLarge, MediaUnavailable
from messaging.providers.messages import InboundMedia

MAX_PHOTO_BYTES = 10 * 1024 * 1024

# Magic numbers of the image formats phones send.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(data: bytes) -> str | None:
    """The image's MIME type from its first bytes, or None when it is not an image we accept."""
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"heim", b"hevc"):
        return "image/heic"
    return None


def store_photo_answer(*, session, question_key: str, message: Message, language: str) -> IntakePhoto:
    """Fetch the message's first attachment, check it, store it encrypted; raises InvalidAnswer."""
    media = list((message.payload or {}).get("media") or [])
    if not media:
        raise InvalidAnswer(text(language, "photo_needed"))
    first = media[0]
    wanted = InboundMedia(
        url=first.get("url") or "",
        content_type=first.get("content_type") or "",
        provider_media_id=first.get("provider_media_id") or "",
    )
    channel = session.channel
    try:
        fetched = backend_for(channel).fetch_media(channel_config(channel), wanted, max_bytes=MAX_PHOTO_BYTES)
    except MediaTooLarge:
        raise InvalidAnswer(text(language, "image_too_big")) from None
    except MediaUnavailable:
        raise InvalidAnswer(text(language, "photo_unavailable")) from None
    content = fetched.content
    if len(content) > MAX_PHOTO_BYTES:
        raise InvalidAnswer(text(language, "image_too_big"))
    mime = image_type(content)
    if mime is None:  # whatever the provider declared: the bytes decide
        raise InvalidAnswer(text(language, "not_an_image"))
    return IntakePhoto.objects.create(
        organization_id=session.organization_id,
        session=session,
        question_key=question_key,
        content_type=mime,
        size=len(content),
        data=base64.b64encode(content).decode(),
    )


def photo_bytes(photo: IntakePhoto) -> bytes:
    """The decrypted image (callers audit the read)."""
    return base64.b64decode(photo.data)
