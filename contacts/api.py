"""Partner API for contacts: CRUD, lookup by phone or e-mail, tags, custom fields and consent.

Thin doors: every read goes through a selector (``contacts.selectors``/``api_selectors``) that
checks the key's permission and records the audit event, every write through a service that
does the same. Errors the services raise become the one error shape in ``service_errors``.
No PHI ever travels in a URL: lookups are POSTs, list filters are ids, flags and dates.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import django_filters
from django import forms
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.partner_api.errors import ApiError
from accounts.partner_api.filters import StrictFilterSet
from accounts.partner_api.schema import ErrorSerializer
from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm
from contacts import api_selectors, selectors, services
from contacts import tags as tags_service
from contacts.api_serializers import (
    ConsentChangeSerializer,
    ConsentSerializer,
    ContactCreateSerializer,
    ContactSerializer,
    ContactTagsSerializer,
    ContactWriteSerializer,
    CustomFieldSerializer,
    LookupSerializer,
    TagChangeSerializer,
    TagSerializer,
    consent_of,
)
from contacts.models import CHANNELS, Contact, ContactTag, CustomField, Origin, Tag
from contacts.selectors import CONSENT_FILTERS


@contextmanager
def service_errors(actor) -> Iterator[None]:
    """The contacts services' refusals as the API's one error shape (the one place they are mapped).

    ``DuplicatePhone`` is a 409 (it names the existing contact only to keys that may read
    contacts); ``InvalidContact`` a 400 listing each field; a custom-field ``ValueError`` a 400 on
    ``custom_values``. Django's ``ValidationError`` (``InvalidValue``) and ``PermissionDenied``
    are mapped by the frame's handler (accounts/partner_api/errors.py).
    """
    try:
        yield
    except services.DuplicatePhone as exc:
        message = services.DUPLICATE_PHONE_MESSAGE
        if exc.existing_id and actor.can(Perm.CONTACTS_VIEW):
            message = f"Contact {exc.existing_id} already has this phone number: update that contact instead."
        raise ApiError(status_code=status.HTTP_409_CONFLICT, code="duplicate_phone", message=message,
                       field="phone", details=[{"field": "phone", "code": "duplicate_phone",
                                                "message": message}]) from None
    except services.InvalidContact as exc:
        raise serializers.ValidationError({name: [message] for name, message in exc.errors.items()}) from None
    except ValueError as exc:
        if hasattr(exc, "messages"):  # accounts' InvalidValue: the frame's handler names its field
            raise
        # custom_fields.clean_values: its messages name the field's label, never the value.
        raise serializers.ValidationError({"custom_values": [str(exc)]}) from None


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 2**31 - 1})
class _IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class ContactFilter(StrictFilterSet):
    tag = _IntegerFilter(method="filter_tag", min_value=1, max_value=2**31 - 1,
                         help_text="Only contacts carrying this tag (its id, from GET /tags).")
    consent = django_filters.ChoiceFilter(choices=[(c, c) for c in CONSENT_FILTERS], method="filter_consent",
                                          help_text="Consent on consent_channel (default sms).")
    consent_channel = django_filters.ChoiceFilter(choices=[(c, c) for c in CHANNELS], method="filter_noop",
                                                  help_text="The channel the consent filter reads.")
    created_since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                                     help_text="Only contacts created at or after this time.")

    class Meta:
        model = Contact
        fields = ["tag", "consent", "consent_channel", "created_since"]

    def filter_tag(self, queryset, name, value):
        org_id = self.request.user.actor.organization_id
        tagged = ContactTag.objects.filter(organization_id=org_id, tag_id=value)
        return queryset.filter(pk__in=tagged.values("contact_id"))

    def filter_consent(self, queryset, name, value):
        channel = self.form.cleaned_data.get("consent_channel") or "sms"
        column = f"{channel}_opted_in"
        if value == "unknown":
            return queryset.filter(**{f"{column}__isnull": True})
        return queryset.filter(**{column: value == "opted_in"})

    def filter_noop(self, queryset, name, value):
        return queryset  # read by filter_consent


_CONTACT_EXAMPLE = OpenApiExample("A contact", response_only=True, value={
    "id": 42, "first_name": "Ada", "last_name": "Lovelace", "phone": "+14155550123",
    "email": "ada@example.org", "date_of_birth": "1980-02-29", "preferred_channel": "sms", "language": "en",
    "timezone": "America/Los_Angeles", "origin": "api", "custom_values": {"insurer": "Acme Health"},
    "tags": ["diabetes-program"], "consent": {
        "sms": {"opted_in": True, "source": "api", "changed_at": "2026-12-01T09:00:00Z"},
        "whatsapp": {"opted_in": None, "source": "", "changed_at": None}},
    "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z"})
_CREATE_EXAMPLE = OpenApiExample("Create a contact", request_only=True, value={
    "first_name": "Ada", "last_name": "Lovelace", "phone": "(415) 555-0123", "email": "ada@example.org",
    "date_of_birth": "1980-02-29", "tags": ["diabetes-program"]})
_CONFLICT = OpenApiResponse(ErrorSerializer, description="Another contact already has this phone number.")


class ContactViewSet(TenantViewSet):
    """The organisation's contacts (patients)."""

    model = Contact
    # Any id reaches the view, which answers our JSON 404 (the default pattern stops at a dot,
    # and Django\'s HTML 404 page is not the API\'s error shape).
    lookup_value_regex = "[^/]+"
    serializer_class = ContactSerializer
    parser_classes = [JSONParser]  # JSON bodies only (files go to the import endpoint)
    filterset_class = ContactFilter
    ordering_fields = ["id", "created_at", "updated_at"]
    action_perms = {
        "list": Perm.CONTACTS_VIEW, "retrieve": Perm.CONTACTS_VIEW, "lookup": Perm.CONTACTS_VIEW,
        "create": Perm.CONTACTS_EDIT, "partial_update": Perm.CONTACTS_EDIT, "tags": Perm.CONTACTS_EDIT,
        "consent": Perm.CONTACTS_EDIT, "destroy": Perm.CONTACTS_DELETE,
    }

    def base_queryset(self, actor):
        return api_selectors.partner_contacts(actor=actor)

    def _show(self, contact: Contact, tag_names: dict | None = None,
              code: int = status.HTTP_200_OK) -> Response:
        if tag_names is None:
            tag_names = selectors.tags_by_contact(actor=self.actor, contact_ids=[contact.pk])
        return Response(ContactSerializer(contact, context={"tag_names": tag_names}).data, status=code)

    @extend_schema(summary="List contacts", description="Newest first by default; cursor-paginated "
                   "(up to 200 a page). One audit event per page.", examples=[_CONTACT_EXAMPLE])
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        used = [name for name in ContactFilter.base_filters if name in request.query_params]
        tag_names = api_selectors.contact_page(actor=self.actor, contacts=page, filters=used)
        data = ContactSerializer(page, many=True, context={"tag_names": tag_names}).data
        return self.get_paginated_response(data)

    @extend_schema(summary="Get a contact", description="Audited as viewed.", examples=[_CONTACT_EXAMPLE])
    def retrieve(self, request, pk=None):
        return self._show(selectors.get_contact(actor=self.actor, contact_id=pk))

    @extend_schema(summary="Create a contact", request=ContactCreateSerializer,
                   responses={201: ContactSerializer, 409: _CONFLICT}, examples=[_CREATE_EXAMPLE,
                                                                                 _CONTACT_EXAMPLE])
    def create(self, request):
        body = ContactCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        custom_values, tag_names = values.pop("custom_values", None), values.pop("tags", ())
        with service_errors(self.actor):
            contact = services.create_contact(actor=self.actor, organization=request.user.organization,
                                              origin=Origin.API, custom_values=custom_values, tags=tag_names,
                                              **values)
        return self._show(contact, code=status.HTTP_201_CREATED)

    @extend_schema(summary="Change some of a contact's fields", request=ContactWriteSerializer,
                   responses={200: ContactSerializer, 409: _CONFLICT})
    def partial_update(self, request, pk=None):
        contact = api_selectors.contact_for_change(actor=self.actor, contact_id=pk, perm=Perm.CONTACTS_EDIT)
        body = ContactWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        with service_errors(self.actor):
            contact = services.update_contact(actor=self.actor, contact=contact,
                                              custom_values=values.pop("custom_values", None), **values)
        return self._show(contact)

    @extend_schema(summary="Delete a contact", responses={204: None})
    def destroy(self, request, pk=None):
        contact = api_selectors.contact_for_change(actor=self.actor, contact_id=pk, perm=Perm.CONTACTS_DELETE,
                                                   echoes=False)
        services.delete_contact(actor=self.actor, contact=contact)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Find a contact by phone or e-mail", request=LookupSerializer,
                   responses={200: ContactSerializer, 404: OpenApiResponse(
                       ErrorSerializer, description="No contact of your organisation has it.")},
                   description="Through the blind index (nothing is decrypted to search). The value goes "
                               "in the body, never in a URL, and is never logged. Audited, found or not.",
                   examples=[OpenApiExample("By phone", request_only=True, value={"phone": "+14155550123"}),
                             _CONTACT_EXAMPLE])
    @action(detail=False, methods=["post"])
    def lookup(self, request):
        body = LookupSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = api_selectors.lookup_contact(actor=self.actor, organization=request.user.organization,
                                               **body.validated_data)
        if contact is None:
            what = "phone number" if "phone" in body.validated_data else "e-mail address"
            raise ApiError(status_code=status.HTTP_404_NOT_FOUND, code="not_found",
                           message=f"No contact of your organisation has this {what}.")
        return self._show(contact)

    @extend_schema(summary="Add or remove tags on a contact", request=TagChangeSerializer,
                   responses=ContactTagsSerializer,
                   examples=[OpenApiExample("Tag", request_only=True, value={"add": ["flu-2026"],
                                                                           "remove": ["no-show"]})])
    @action(detail=True, methods=["post"])
    def tags(self, request, pk=None):
        contact = api_selectors.contact_for_change(actor=self.actor, contact_id=pk, perm=Perm.CONTACTS_EDIT,
                                                   echoes=False)
        body = TagChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        for name in body.validated_data.get("add", []):
            tags_service.tag_contacts(actor=self.actor, contact_ids=[contact.pk], tag_name=name)
        for name in body.validated_data.get("remove", []):
            tags_service.untag_contacts(actor=self.actor, contact_ids=[contact.pk], tag_name=name)
        names = selectors.tags_by_contact(actor=self.actor, contact_ids=[contact.pk]).get(contact.pk, [])
        return Response({"tags": names})

    @extend_schema(summary="Record consent on one channel", request=ConsentChangeSerializer,
                   responses=ConsentSerializer,
                   examples=[OpenApiExample("Opt out of SMS", request_only=True,
                                            value={"channel": "sms", "opted_in": False})])
    @action(detail=True, methods=["post"])
    def consent(self, request, pk=None):
        contact = api_selectors.contact_for_change(actor=self.actor, contact_id=pk, perm=Perm.CONTACTS_EDIT,
                                                   echoes=False)
        body = ConsentChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.set_consent(actor=self.actor, contact=contact, source="api", **body.validated_data)
        return Response(consent_of(contact))


class TagViewSet(TenantViewSet):
    """The organisation's tags."""

    model = Tag
    serializer_class = TagSerializer
    ordering_fields = ["id", "name"]
    action_perms = {"list": Perm.CONTACTS_VIEW}

    def base_queryset(self, actor):
        return selectors.tags(actor=actor)

    @extend_schema(summary="List tags")
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(TagSerializer(page, many=True).data)


class CustomFieldViewSet(TenantViewSet):
    """The organisation's custom-field definitions (values are read and written on contacts)."""

    model = CustomField
    serializer_class = CustomFieldSerializer
    ordering_fields = ["id", "key"]
    action_perms = {"list": Perm.CONTACTS_VIEW}

    def base_queryset(self, actor):
        return api_selectors.custom_field_definitions(actor=actor)

    @extend_schema(summary="List custom-field definitions")
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(CustomFieldSerializer(page, many=True).data)


router = SimpleRouter(trailing_slash=False)
router.register("contacts", ContactViewSet, basename="contact")
router.register("tags", TagViewSet, basename="tag")
router.register("custom-fields", CustomFieldViewSet, basename="custom-field")
