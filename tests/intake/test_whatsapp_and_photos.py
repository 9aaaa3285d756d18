"""WhatsApp: choice questions as reply buttons / list messages to Meta, taps back in; photo
answers fetched from Meta and Twilio, checked, and stored encrypted."""

from __future__ import annotations

import base64
import io

import pytest
from django.db import connection
from django_scopes import scope
from PIL import Image

from campaigns.intake import selectors
from campaigns.intake.models import IntakePhoto
from tests.fakes import FakeGraph, FakeTelnyx, FakeTwilio
from tests.fakes.payloads import (
    META_PHONE_NUMBER_ID,
    _meta_message,
    meta_inbound_reply,
    meta_inbound_text,
    telnyx_inbound,
    twilio_inbound_sms,
)
from tests.intake.helpers import Patient, build, member

pytestmark = pytest.mark.django_db

WA_PATIENT = "+16505551234"


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 25), "navy").save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def graph(settings):
    with FakeGraph() as fake:
        settings.WHATSAPP_GRAPH_BASE_URL = fake.api_base_url
        yield fake


def sent_to_meta(graph) -> list[dict]:
    return [r.json for r in graph.requests if r.method == "POST"]


def meta_text(text: str) -> bytes:
    return meta_inbound_text(from_wa_id=WA_PATIENT.lstrip("+"), text=text)


def tap(patient, kind: str, reply_id: str, title: str) -> None:
    patient.send(
        meta_body=meta_inbound_reply(
            from_wa_id=patient.phone.lstrip("+"), kind=kind, reply_id=reply_id, title=title
        )
    )


def test_yes_no_and_short_choices_are_reply_buttons_and_taps_answer_them(tenant_a, graph):
    build(
        tenant_a,
        [
            {"key": "smoker", "kind": "yes_no", "prompt": "Do you smoke?"},
            {
                "key": "visit",
                "kind": "single_choice",
                "prompt": "Visit type?",
                "choices": ["New", "Follow-up", "Other"],
            },
            {"key": "done", "kind": "text", "prompt": "Anything else?"},
        ],
    )
    patient = Patient(tenant_a, "whatsapp_cloud", phone=WA_PATIENT)
    patient.send("INTAKE")
    first = sent_to_meta(graph)[-1]
    assert first["type"] == "interactive" and first["interactive"]["type"] == "button"
    assert [b["reply"] for b in first["interactive"]["action"]["buttons"]] == [
        {"id": "smoker:yes", "title": "Yes"},
        {"id": "smoker:no", "title": "No"},
    ]
    assert first["interactive"]["body"]["text"].endswith("Do you smoke?")

    tap(patient, "button_reply", "smoker:no", "No")
    second = sent_to_meta(graph)[-1]
    assert [b["reply"]["id"] for b in second["interactive"]["action"]["buttons"]] == [
        "visit:opt0",
        "visit:opt1",
        "visit:opt2",
    ]
    tap(patient, "button_reply", "visit:opt1", "Follow-up")
    assert sent_to_meta(graph)[-1]["type"] == "text"
    patient.send(meta_body=meta_text("no"))
    assert patient.submission().answers == {"smoker": False, "visit": "Follow-up", "done": "no"}


def test_up_to_ten_options_are_a_list_and_more_are_numbered(tenant_a, graph):
    build(
        tenant_a,
        [
            {
                "key": "slot",
                "kind": "single_choice",
                "prompt": "Which day suits you?",
                "choices": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
            },
            {
                "key": "country",
                "kind": "single_choice",
                "prompt": "Country of birth?",
                "choices": [f"Country {n}" for n in range(1, 13)],
            },
        ],
    )
    patient = Patient(tenant_a, "whatsapp_cloud", phone=WA_PATIENT)
    patient.send("INTAKE")
    listing = sent_to_meta(graph)[-1]["interactive"]
    assert listing["type"] == "list" and listing["action"]["button"] == "Choose"
    rows = listing["action"]["sections"][0]["rows"]
    assert [(r["id"], r["title"]) for r in rows][:2] == [("slot:opt0", "Monday"), ("slot:opt1", "Tuesday")]
    tap(patient, "list_reply", "slot:opt3", "Thursday")
    numbered = sent_to_meta(graph)[-1]
    assert numbered["type"] == "text" and "12) Country 12" in numbered["text"]["body"]
    patient.send(meta_body=meta_text("12"))
    assert patient.submission().answers == {"slot": "Thursday", "country": "Country 12"}


def test_the_stored_question_lists_its_options_while_meta_gets_buttons(tenant_a, graph):
    build(
        tenant_a,
        [
            {"key": "smoker", "kind": "yes_no", "prompt": "Do you smoke?"},
            {
                "key": "slot",
                "kind": "single_choice",
                "prompt": "Which day suits you?",
                "choices": ["Monday", "Tuesday", "Wednesday", "Thursday"],
                "required": False,
            },
        ],
    )
    patient = Patient(tenant_a, "whatsapp_cloud", phone=WA_PATIENT)
    patient.send("INTAKE")
    buttons = sent_to_meta(graph)[-1]["interactive"]
    assert buttons["type"] == "button" and buttons["body"]["text"].endswith("Do you smoke?")
    assert patient.last().endswith("Do you smoke?\n1) Yes\n2) No")  # what the inbox thread shows
    tap(patient, "button_reply", "smoker:no", "No")
    listing = sent_to_meta(graph)[-1]["interactive"]
    assert listing["type"] == "list" and "1) Monday" not in listing["body"]["text"]
    assert [r["title"] for r in listing["action"]["sections"][0]["rows"]] == [
        "Monday", "Tuesday", "Wednesday", "Thursday"]
    stored = patient.last()
    assert "Which day suits you?\n1) Monday\n2) Tuesday\n3) Wednesday\n4) Thursday\n" in stored
    assert stored.endswith(listing["body"]["text"].splitlines()[-1])  # the SKIP hint, after the options


def test_a_tap_on_an_old_questions_button_is_not_taken_for_the_current_one(tenant_a, graph):
    build(
        tenant_a,
        [
            {"key": "smoker", "kind": "yes_no", "prompt": "Do you smoke?"},
            {"key": "drinks", "kind": "yes_no", "prompt": "Do you drink alcohol?"},
        ],
    )
    patient = Patient(tenant_a, "whatsapp_cloud", phone=WA_PATIENT)
    patient.send("INTAKE")
    tap(patient, "button_reply", "smoker:yes", "Yes")
    tap(patient, "button_reply", "smoker:no", "No")  # its title still answers the question asked now
    assert patient.submission().answers == {"smoker": True, "drinks": False}


PHOTO = [
    {"key": "insurance_card", "kind": "photo", "prompt": "Please send a photo of your insurance card."},
    {"key": "ok", "kind": "yes_no", "prompt": "All done?"},
]


def meta_image(media_id: str) -> bytes:
    return _meta_message(
        {"type": "image", "image": {"id": media_id, "mime_type": "image/jpeg"}},
        from_wa_id="16505551234",
        phone_number_id=META_PHONE_NUMBER_ID,
        message_id=None,
        profile_name="S",
    )


def test_a_whatsapp_photo_is_fetched_from_meta_and_stored_encrypted(tenant_a, graph):
    build(tenant_a, PHOTO)
    image = jpeg_bytes()
    graph.media["778899"] = (image, "image/jpeg")
    graph.media["778900"] = (b"%PDF-1.7 not a picture", "image/jpeg")
    patient = Patient(tenant_a, "whatsapp_cloud", phone=WA_PATIENT)
    patient.send("INTAKE")
    patient.send("here you go")
    assert "please send a photo" in patient.last()
    patient.send(meta_body=meta_image("778900"))
    assert "that file is not a photo" in patient.last()
    patient.send(meta_body=meta_image("123"))  # unknown media id
    assert "could not be downloaded" in patient.last()
    patient.send(meta_body=meta_image("778899"))
    assert patient.last().startswith("All done?")
    with scope(organization=tenant_a.org):
        photo = IntakePhoto.objects.get()
        assert photo.content_type == "image/jpeg" and photo.size == len(image)
        _photo, content = selectors.open_photo(actor=member(tenant_a), photo_id=photo.pk)
    assert content == image
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM campaigns_intakephoto")
        raw = cursor.fetchone()[0]
    assert raw.startswith("crx1:") and base64.b64encode(image).decode()[:40] not in raw
    assert "whatsapp_business" not in raw
    assert patient.session().answers == {"insurance_card": {"photo_id": photo.pk}}


def test_a_photo_over_ten_megabytes_is_refused(tenant_a, graph):
    build(tenant_a, PHOTO)
    graph.media["555"] = (b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), "image/jpeg")
    patient = Patient(tenant_a, "whatsapp_cloud", phone=WA_PATIENT)
    patient.send("INTAKE")
    patient.send(meta_body=meta_image("555"))
    assert "larger than 10 MB" in patient.last()
    with scope(organization=tenant_a.org):
        assert not IntakePhoto.objects.exists()


def test_an_mms_photo_is_fetched_from_twilio_with_the_accounts_credentials(tenant_a, settings):
    build(tenant_a, PHOTO)
    image = jpeg_bytes()
    with FakeTwilio() as fake:
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        fake.media["ME0123456789abcdef0123456789abcdef"] = (image, "image/jpeg")
        fake.media["ME00000000000000000000000000000000"] = (b"GIF89a" + b"\0" * 64, "image/gif")
        patient = Patient(tenant_a, "twilio")
        patient.send("INTAKE")
        big = "ME11111111111111111111111111111111"
        fake.media[big] = (b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024), "image/png")
        patient.send(
            pairs=twilio_inbound_sms(
                from_=patient.phone, to="+14155550100", body="", media=[(fake.media_url(big), "image/png")]
            )
        )
        assert "larger than 10 MB" in patient.last()
        patient.send(
            pairs=twilio_inbound_sms(
                from_=patient.phone,
                to="+14155550100",
                body="",
                media=[(fake.media_url("ME0123456789abcdef0123456789abcdef"), "image/jpeg")],
            )
        )
        assert patient.last().startswith("All done?")
        media_requests = [r for r in fake.requests if r.method == "GET"]
        assert media_requests[-2].headers["authorization"].startswith("Basic ")
        assert "authorization" not in media_requests[-1].headers  # the redirect target gets no credentials
    with scope(organization=tenant_a.org):
        assert IntakePhoto.objects.get().size == len(image)


def test_twilio_media_of_another_account_is_never_fetched(tenant_a, settings):
    build(tenant_a, PHOTO)
    with FakeTwilio() as fake:
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        patient = Patient(tenant_a, "twilio")
        patient.send("INTAKE")
        foreign = "https://api.twilio.com/2010-04-01/Accounts/AC99999999999999999999999999999999/Messages/MM1/Media/ME1"
        patient.send(
            pairs=twilio_inbound_sms(
                from_=patient.phone, to="+14155550100", body="", media=[(foreign, "image/jpeg")]
            )
        )
        assert "could not be downloaded" in patient.last()
        assert not [r for r in fake.requests if r.method == "GET"]


def test_a_telnyx_mms_photo_is_fetched_from_its_signed_url_and_stored_encrypted(tenant_a, settings):
    build(tenant_a, PHOTO)
    image = jpeg_bytes()
    with FakeTelnyx() as fake:
        settings.TELNYX_API_BASE_URL = fake.api_base_url
        fake.media["card"] = (image, "image/jpeg")
        patient = Patient(tenant_a, "telnyx")
        patient.send("INTAKE")
        assert "insurance card" in patient.last()

        def mms(url: str) -> bytes:
            return telnyx_inbound(from_=patient.phone, to=patient.channel.address, text="",
                                  media=[(url, "image/jpeg")])

        patient.send(telnyx_body=mms(fake.media_url("card", expires_in=-60)))  # expired link
        assert "could not be downloaded" in patient.last()
        patient.send(telnyx_body=mms(fake.media_url("card")))
        assert patient.last().startswith("All done?")
        media_requests = [r for r in fake.requests if r.method == "GET"]
        assert len(media_requests) == 2
        assert "authorization" not in media_requests[-1].headers  # the signed URL is the credential
    with scope(organization=tenant_a.org):
        photo = IntakePhoto.objects.get()
        _photo, content = selectors.open_photo(actor=member(tenant_a), photo_id=photo.pk)
    assert content == image and photo.content_type == "image/jpeg"
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM campaigns_intakephoto")
        raw = cursor.fetchone()[0]
    assert raw.startswith("crx1:") and base64.b64encode(image).decode()[:40] not in raw
    assert "Signature" not in raw and "/media/" not in raw
    assert patient.session().answers == {"insurance_card": {"photo_id": photo.pk}}


def test_a_telnyx_media_url_that_redirects_is_not_followed(tenant_a, settings):
    """The checked URL is the only one fetched: a redirect (another scheme, port or path on the
    pinned address) is refused, never followed."""
    build(tenant_a, PHOTO)
    with FakeTelnyx() as fake:
        settings.TELNYX_API_BASE_URL = fake.api_base_url
        fake.media["card"] = (jpeg_bytes(), "image/jpeg")
        fake.media_redirects["moved"] = fake.media_url("card")
        patient = Patient(tenant_a, "telnyx")
        patient.send("INTAKE")
        patient.send(telnyx_body=telnyx_inbound(from_=patient.phone, to=patient.channel.address, text="",
                                                media=[(fake.media_url("moved"), "image/jpeg")]))
        assert "could not be downloaded" in patient.last()
        assert [r.path.rsplit("/", 1)[-1] for r in fake.requests if r.method == "GET"] == ["moved"]
    with scope(organization=tenant_a.org):
        assert not IntakePhoto.objects.exists()


def test_a_telnyx_media_url_on_a_private_address_is_never_fetched(tenant_a, settings, monkeypatch):
    from accounts.event_webhooks import delivery

    build(tenant_a, PHOTO)
    with FakeTelnyx() as fake:
        settings.TELNYX_API_BASE_URL = fake.api_base_url
        patient = Patient(tenant_a, "telnyx")
        patient.send("INTAKE")
        looked_up, real = [], delivery.socket.getaddrinfo

        def dns(host, *args, **kwargs):
            if host == "media.example.com":
                looked_up.append(host)
                return [(None, None, None, "", ("10.0.0.7", 443))]
            return real(host, *args, **kwargs)

        monkeypatch.setattr(delivery.socket, "getaddrinfo", dns)
        for url in ("https://media.example.com/x.jpg",  # resolves to 10.0.0.7
                    "https://169.254.169.254/latest/meta-data", "file:///etc/passwd",
                    "https://user:pw@media.example.com/x.jpg"):
            patient.send(telnyx_body=telnyx_inbound(from_=patient.phone, to=patient.channel.address,
                                                    text="", media=[(url, "image/jpeg")]))
            assert "could not be downloaded" in patient.last()
        assert looked_up == ["media.example.com"]  # the others were refused before any look-up or connection
    with scope(organization=tenant_a.org):
        assert not IntakePhoto.objects.exists()


def test_no_expiry_notice_once_whatsapps_window_has_closed(tenant_a, graph):
    import datetime

    import time_machine

    from campaigns.intake.tasks import sweep_sessions
    from tests.intake.helpers import on_commit

    build(tenant_a, PHOTO, expire_after_minutes=25 * 60)
    patient = Patient(tenant_a, "whatsapp_cloud", phone=WA_PATIENT)
    with time_machine.travel(datetime.datetime(2026, 6, 1, 17, 0, tzinfo=datetime.UTC), tick=False) as clock:
        patient.send("INTAKE")
        clock.shift(datetime.timedelta(hours=25, minutes=1))
        sent = len(sent_to_meta(graph))
        with on_commit():
            sweep_sessions.delay()
    session = patient.session()
    assert session.status == "expired"
    assert len(sent_to_meta(graph)) == sent  # Meta would refuse a free-form message now
    assert [m.status for m in patient.outbox()].count("failed") == 0
