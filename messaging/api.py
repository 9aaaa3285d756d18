"""Partner API for messaging: channels (read-only)."""

from __future__ import annotations

from rest_framework import mixins, serializers
from rest_framework.routers import SimpleRouter

from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm
from messaging import selectors
from messaging.models import Channel


class ChannelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = ["id", "name", "provider", "kind", "address", "is_active", "is_default",
                  "rate_limit_per_second"]
        read_only_fields = fields


class ChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The organisation's sending channels (no credentials, ever)."""

    model = Channel
    serializer_class = ChannelSerializer
    action_perms = {"list": Perm.INBOX_VIEW, "retrieve": Perm.INBOX_VIEW}
    ordering_fields = ["id", "name"]

    def base_queryset(self, actor):
        return selectors.partner_channels(actor=actor)


router = SimpleRouter(trailing_slash=False)
router.register("channels", ChannelViewSet, basename="channel")
