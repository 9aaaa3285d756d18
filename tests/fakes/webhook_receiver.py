"""A partner's webhook receiver on 127.0.0.1: records what CareRelay delivers, answers as told."""

from __future__ import annotations

from tests.fakes._server import Answer, Failure, FakeProviderServer, RecordedRequest


class WebhookReceiver(FakeProviderServer):
    """Answers 200 ``ok`` (or the queued failure, see ``fail_next``); ``redirect_to`` answers 302."""

    redirect_to: str | None = None

    def handle(self, request: RecordedRequest) -> Answer:
        if self.redirect_to:
            return 302, {"Location": self.redirect_to}, b""
        return 200, {"Content-Type": "text/plain"}, b"ok" + b"x" * 3000

    def failure_answer(self, failure: Failure) -> Answer:
        return failure.status, {"Content-Type": "text/plain"}, b"receiver error"

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/carerelay"
