"""A printable poster: the clinic's invitation and a QR code that opens the patient's messaging
app with the start keyword filled in (``sms:`` for SMS, ``https://wa.me/`` for WhatsApp)."""

from __future__ import annotations

import io
from urllib.parse import quote

import qrcode
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from accounts import blind_index
from campaigns.intake.texts import text

WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dpi


def start_link(*, kind: str, number: str, keyword: str, region: str = "US") -> str:
    """The link the QR code holds; raises ValueError when the number is not a phone number."""
    e164 = blind_index.normalize_phone(number, region)
    if kind == "whatsapp":
        return f"https://wa.me/{e164.lstrip('+')}?text={quote(keyword)}"
    return f"sms:{e164}?&body={quote(keyword)}"


def _font(size: int):
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def render(*, title: str, keyword: str, number: str, link: str, file_format: str,
           language: str = "en") -> bytes:
    """The poster as PNG or PDF bytes (Pillow's PDF writer: no extra dependency), its sentences
    in the questionnaire's ``language``. The words also go into the file's metadata (PNG
    Description, PDF subject) for readers that cannot see the picture."""
    invitation = text(language, "poster_invitation", keyword=keyword, number=number)
    scan = text(language, "poster_scan")
    page = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(page)
    _centred(draw, 140, title[:60], _font(64))
    _centred(draw, 260, invitation, _font(48))
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=20, border=2)
    code.add_data(link)
    code.make(fit=True)
    qr = code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    side = min(900, qr.size[0])
    qr = qr.resize((side, side), Image.NEAREST)
    page.paste(qr, ((WIDTH - side) // 2, 400))
    _centred(draw, 400 + side + 60, scan, _font(40))
    out = io.BytesIO()
    if file_format == "pdf":
        page.save(out, format="PDF", resolution=150.0, title=title[:60], subject=f"{invitation}. {scan}.")
    else:
        info = PngImagePlugin.PngInfo()
        info.add_itxt("Title", title[:60])
        info.add_itxt("Description", f"{invitation}. {scan}.")
        page.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _centred(draw: ImageDraw.ImageDraw, y: int, text: str, font) -> None:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    draw.text(((WIDTH - (right - left)) // 2, y), text, fill="black", font=font)
