"""Fixtures shared by the messaging tests (a module's own fixture of the same name wins)."""

from __future__ import annotations

import pytest

from tests.fakes import FakeTwilio


@pytest.fixture
def twilio(settings):
    """The fake Twilio API, with the SDK pointed at it."""
    with FakeTwilio() as fake:
        settings.TWILIO_API_BASE_URL = fake.api_base_url
        yield fake
