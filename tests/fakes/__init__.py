"""Fake provider APIs on 127.0.0.1 and webhook signing helpers for tests and benchmarks.

    with FakeTwilio() as fake:
        backend = TwilioBackend(api_base_url=fake.api_base_url)
        ...
        assert fake.last_request.field("To") == "+14155550199"

As pytest fixtures (in a conftest)::

    @pytest.fixture
    def fake_twilio():
        with FakeTwilio() as fake:
            yield fake
"""

from tests.fakes._server import FakeProviderServer, RecordedRequest
from tests.fakes.graph_api import FakeGraph
from tests.fakes.signing import (
    TELNYX_VECTOR_SEED,
    meta_signature,
    meta_signed_headers,
    simulator_signed_headers,
    telnyx_keypair,
    telnyx_sign,
    twilio_signature,
    twilio_signed_form,
)
from tests.fakes.telnyx_api import FakeTelnyx
from tests.fakes.twilio_api import FakeTwilio

__all__ = [
    "TELNYX_VECTOR_SEED",
    "FakeGraph",
    "FakeProviderServer",
    "FakeTelnyx",
    "FakeTwilio",
    "RecordedRequest",
    "meta_signature",
    "meta_signed_headers",
    "simulator_signed_headers",
    "telnyx_keypair",
    "telnyx_sign",
    "twilio_signature",
    "twilio_signed_form",
]
