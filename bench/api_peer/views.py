"""The peer endpoint: the same DRF stack as /api/v1/contacts (the base viewset: key
authentication, tenant scope, throttle, cursor pagination, JSON renderer, the same response
serializer's fields) over the plain table — no decryption, no audit event, no tag query."""

from rest_framework.routers import SimpleRouter

from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm
from bench.api_peer.models import PlainApiContact
from contacts.api_serializers import ContactSerializer


class PlainContactSerializer(ContactSerializer):
    """The product's contact serializer, reading the plain row (no tags: the peer has none)."""

    def get_tags(self, contact) -> list[str]:
        return []


class PlainContactViewSet(TenantViewSet):
    model = PlainApiContact
    serializer_class = PlainContactSerializer
    ordering_fields = ["id", "created_at"]
    action_perms = {"list": Perm.CONTACTS_VIEW}

    def base_queryset(self, actor):
        return PlainApiContact.objects.all()

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(PlainContactSerializer(page, many=True).data)


router = SimpleRouter(trailing_slash=False)
router.register("plain-contacts", PlainContactViewSet, basename="plain-contact")
