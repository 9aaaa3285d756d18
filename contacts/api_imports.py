"""Partner API for contact imports: upload a file with its column mapping, poll the import, fetch
the list of rows not imported.

A thin door onto the import wizard's services (``contacts.importing.service``): the same
encrypted upload and size limit, the same mapping rules, the same Celery run (and sweeper), the
same error file and its audit event. What the wizard asks over three pages (upload, map the
columns, start) arrives here as one multipart POST: the file, a JSON object naming the field of
each column, and the wizard's options. Answers carry counts and states only, like the wizard's
progress page: never the file's name, its header row or any cell.
"""

from __future__ import annotations

import json

import django_filters
from django.conf import settings
from django.db import transaction
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.partner_api.errors import ApiError
from accounts.partner_api.filters import StrictFilterSet
from accounts.partner_api.schema import ErrorSerializer
from accounts.partner_api.serializers import StrictSerializer
from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm
from contacts import api_selectors, custom_fields
from contacts.importing import mapping as mapping_rules
from contacts.importing import service, storage
from contacts.models import ImportJob

# Room for the multipart framing and the other fields on top of the file itself.
_MULTIPART_SLACK = 1 << 20
FIRST_ROW_CHOICES = [("header", "The first row names the columns"),
                     ("data", "The first row is a contact: the columns are Column 1, Column 2, …")]


def _entries(positions: list[int]) -> str:
    """Which entries of the client's mapping object (1-based): positions, never the names."""
    shown = ", ".join(str(p) for p in positions[:10])
    return f"entr{'y' if len(positions) == 1 else 'ies'} {shown}{' …' if len(positions) > 10 else ''}"


class _Pairs(list):
    """A JSON object's (key, value) pairs in order, so a key given twice is seen, not overwritten."""


class MappingField(serializers.CharField):
    """The column mapping: one form field holding a JSON object ``{"<column>": "<field>", …}``."""

    default_error_messages = {
        # Braces doubled: DRF formats these messages.
        "json": 'Send the mapping as a JSON object: {{"<column name>": "<field>", …}}.',
        "shape": 'Each column name must map to a field name as a JSON string, e.g. {{"Mobile": "phone"}}.',
        "blank": "The mapping names a column with an empty name.",
        "twice": "The mapping names the same column more than once ({entries}).",
        "empty": "Map at least the column holding phone numbers to phone.",
        "too_many": f"The mapping names more than {service.MAX_COLUMNS} columns.",
    }

    def __init__(self, **kwargs):
        super().__init__(max_length=200_000, **kwargs)

    def to_internal_value(self, data) -> dict[str, str]:
        text = super().to_internal_value(data)
        try:
            pairs = json.loads(text, object_pairs_hook=_Pairs)
        except ValueError:
            self.fail("json")
        if not isinstance(pairs, _Pairs):
            self.fail("json")
        if not pairs:
            self.fail("empty")
        if len(pairs) > service.MAX_COLUMNS:
            self.fail("too_many")
        mapping: dict[str, str] = {}
        repeated = []
        for position, (name, target) in enumerate(pairs, start=1):
            if not isinstance(target, str):
                self.fail("shape")
            # Matched like the wizard reads the header row: surrounding spaces do not count.
            name = name.strip()
            if not name:
                self.fail("blank")
            if name in mapping:
                repeated.append(position)
            mapping[name] = target.strip()
        if repeated:
            self.fail("twice", entries=_entries(repeated))
        return mapping


class ContactImportCreateSerializer(StrictSerializer):
    file = serializers.FileField(help_text="The spreadsheet: CSV (UTF-8, UTF-16 or Latin-1; comma, "
                                           "semicolon, tab or pipe), Excel .xlsx or .xls. Its first sheet "
                                           "is read.")
    mapping = MappingField(help_text='A JSON object: each column name of the file → the field it fills, e.g. '
                                     '{"Mobile": "phone", "First name": "first_name", "Insurer": '
                                     '"custom:insurer"}. Columns left out are ignored; one must map to '
                                     "phone. Fields: GET /contact-imports/mapping-targets.")
    on_existing = serializers.ChoiceField(
        choices=ImportJob.OnExisting.choices, default=ImportJob.OnExisting.UPDATE,
        help_text="A row whose phone number is already a contact's: update that contact with the row's "
                  "values, or skip the row.")
    default_region = serializers.RegexField(
        r"^[A-Za-z]{2}$", required=False, help_text="Country (ISO 3166 code, e.g. US, GB) of phone numbers "
                                                    "written without a country code; default: the "
                                                    "organisation's.")
    first_row = serializers.ChoiceField(
        choices=FIRST_ROW_CHOICES, default="header",
        help_text='"data" for a file without a header row: its columns are then named "Column 1", '
                  '"Column 2", … in the mapping.')


class ImportRowCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(source="total_rows", allow_null=True, read_only=True,
                                     help_text="Rows below the header (blank ones included); null until "
                                               "the file has been counted.")
    processed = serializers.IntegerField(source="processed_rows", read_only=True)
    created = serializers.IntegerField(source="created_count", read_only=True)
    updated = serializers.IntegerField(source="updated_count", read_only=True)
    skipped = serializers.IntegerField(source="skipped_count", read_only=True,
                                       help_text="Left as they were: duplicates within the file, existing "
                                                 "contacts with on_existing=skip, and over_cap rows.")
    over_cap = serializers.IntegerField(source="over_cap_count", read_only=True,
                                        help_text="Of the skipped rows, new contacts beyond the plan's cap.")
    failed = serializers.IntegerField(source="failed_count", read_only=True,
                                      help_text="Rows that could not be imported (the error file says why).")
    blank = serializers.IntegerField(source="blank_rows", read_only=True, help_text="Blank rows, ignored.")


class ErrorFileSerializer(serializers.Serializer):
    rows = serializers.IntegerField(source="error_lines", read_only=True,
                                    help_text="Rows listed in the error file (failed and skipped ones).")
    url = serializers.SerializerMethodField(help_text="Where to download it (CSV), or null while it lists "
                                                      "no row.")

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_url(self, job: ImportJob) -> str | None:
        if not job.error_lines:
            return None
        path = reverse("contact-import-errors", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ContactImportSerializer(serializers.ModelSerializer):
    finished = serializers.BooleanField(source="is_finished", read_only=True,
                                        help_text="done or failed: the counts are final.")
    progress = serializers.IntegerField(source="percent", read_only=True, help_text="Percent, 0 to 100.")
    has_header_row = serializers.BooleanField(source="has_header", read_only=True)
    rows = ImportRowCountsSerializer(source="*", read_only=True)
    error_file = ErrorFileSerializer(source="*", read_only=True)

    class Meta:
        model = ImportJob
        fields = ["id", "status", "finished", "progress", "file_format", "size_bytes", "has_header_row",
                  "on_existing", "default_region", "rows", "failure_reason", "error_file", "created_at",
                  "queued_at", "started_at", "finished_at"]
        read_only_fields = fields
        extra_kwargs = {"failure_reason": {"help_text": "Why a failed import stopped (a file-level problem "
                                                        "and what to do), else empty."}}


class MappingTargetSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="What to put in the mapping.")
    label = serializers.CharField()


class MappingTargetsSerializer(serializers.Serializer):
    targets = MappingTargetSerializer(many=True)


class ContactImportFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=ImportJob.Status.choices)

    class Meta:
        model = ImportJob
        fields = ["status"]


class _AlwaysJson(BaseContentNegotiation):
    """The error file is streamed as CSV whatever the client accepts; everything else this action
    answers is an error in the one JSON shape. So ``Accept: text/csv`` is not a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def check_targets(actor, mapping: dict[str, str]) -> None:
    """Refuse a mapping the wizard would refuse (unknown fields, two columns on one field, no phone)
    before the file is stored: the same rules as ``service.configure``, which checks them again."""
    defs = custom_fields.definitions(actor=actor)
    valid = {value for value, _ in mapping_rules.choices(defs)}
    unknown = [n for n, target in enumerate(mapping.values(), start=1) if target not in valid]
    if unknown:
        raise serializers.ValidationError({"mapping": [
            f"The mapping's {_entries(unknown)} name{'s' if len(unknown) == 1 else ''} no field: use a "
            "value from GET /contact-imports/mapping-targets (ignore, phone, first_name, custom:<key>, "
            "new:text, …)."]})
    targets = list(mapping.values())
    problems = mapping_rules.validate(targets, defs, len(targets))
    if problems:
        raise serializers.ValidationError({"mapping": problems})


def _by_position(job: ImportJob, mapping: dict[str, str]) -> list[str]:
    """The wizard's mapping — a field per column, in the file's order — from the client's
    ``{column name: field}``. Every name must be a column of the file, and only one."""
    columns: dict[str, list[int]] = {}
    for index, header in enumerate(job.headers or []):
        columns.setdefault(header.strip(), []).append(index)
    missing = [n for n, name in enumerate(mapping, start=1) if name not in columns]
    if missing:
        where = "header row" if job.has_header else 'columns ("Column 1", "Column 2", …)'
        raise serializers.ValidationError({"mapping": [
            f"The mapping's {_entries(missing)} name{'s' if len(missing) == 1 else ''} no column of the "
            f"file's {where}: names are matched exactly, case included. For a file without a header row "
            'send first_row=data.']})
    shared = [n for n, name in enumerate(mapping, start=1) if len(columns[name]) > 1]
    if shared:
        raise serializers.ValidationError({"mapping": [
            f"The file has more than one column named like the mapping's {_entries(shared)}: rename them "
            "in the file so each column's name is its own."]})
    targets = [mapping_rules.IGNORE] * len(job.headers or [])
    for name, target in mapping.items():
        targets[columns[name][0]] = target
    return targets


def _file_problem(problem: service.FileProblem, size: int) -> ApiError:
    too_big = size > settings.CONTACT_IMPORT_MAX_BYTES
    code = "file_too_large" if too_big else "invalid_file"
    answer = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_big else status.HTTP_400_BAD_REQUEST
    return ApiError(status_code=answer, code=code, message=str(problem), field="file",
                    details=[{"field": "file", "code": code, "message": str(problem)}])


def _refuse_oversized_body(request) -> None:
    """A body that cannot hold an allowed file is refused before it is read (and spooled to disk)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    limit = settings.CONTACT_IMPORT_MAX_BYTES
    if declared > limit + _MULTIPART_SLACK:
        message = (f"The upload is larger than the import limit of {limit:,} bytes: split the file into "
                   "smaller files and import each one.")
        raise ApiError(status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, code="file_too_large",
                       message=message, field="file",
                       details=[{"field": "file", "code": "file_too_large", "message": message}])


def _single_values(data) -> dict:
    """The form's fields as a plain dict: a field sent twice is refused, not silently the last one."""
    repeated = sorted(name for name in data if len(data.getlist(name)) > 1)
    if repeated:
        raise serializers.ValidationError({name: ["Send this field once."] for name in repeated})
    return {name: data[name] for name in data}


_IMPORT_EXAMPLE = OpenApiExample("An import", response_only=True, value={
    "id": 12, "status": "done", "finished": True, "progress": 100, "file_format": "csv", "size_bytes": 5120,
    "has_header_row": True, "on_existing": "update", "default_region": "US",
    "rows": {"total": 120, "processed": 120, "created": 110, "updated": 6, "skipped": 1, "over_cap": 0,
             "failed": 2, "blank": 1},
    "failure_reason": "", "error_file": {"rows": 3, "url": "https://carerelay.example/api/v1/contact-imports/12/errors"},
    "created_at": "2026-12-01T09:00:00Z", "queued_at": "2026-12-01T09:00:01Z",
    "started_at": "2026-12-01T09:00:01Z", "finished_at": "2026-12-01T09:00:03Z"})
_UPLOAD_EXAMPLE = OpenApiExample("Upload a CSV", request_only=True, value={
    "file": "patients.csv", "mapping": '{"First name": "first_name", "Last name": "last_name", '
                                      '"Mobile": "phone", "Email": "email"}',
    "on_existing": "update", "default_region": "US"})


class ContactImportViewSet(TenantViewSet):
    """Imports of contacts from spreadsheets: the wizard's jobs, whichever door started them."""

    model = ImportJob
    # Any id reaches the view, which answers our JSON 404 (the default pattern stops at a dot,
    # and Django's HTML 404 page is not the API's error shape).
    lookup_value_regex = "[^/]+"
    serializer_class = ContactImportSerializer
    parser_classes = [MultiPartParser]  # a file upload, nothing else
    filterset_class = ContactImportFilter
    ordering_fields = ["id", "created_at"]
    # The wizard lets only importers see imports (their progress, their error files): so here.
    action_perms = {"list": Perm.CONTACTS_IMPORT, "retrieve": Perm.CONTACTS_IMPORT,
                    "create": Perm.CONTACTS_IMPORT, "errors": Perm.CONTACTS_IMPORT,
                    "mapping_targets": Perm.CONTACTS_IMPORT}

    def base_queryset(self, actor):
        return api_selectors.partner_import_jobs(actor=actor)

    def _show(self, job: ImportJob, code: int = status.HTTP_200_OK, **kwargs) -> Response:
        return Response(ContactImportSerializer(job, context={"request": self.request}).data, status=code,
                        **kwargs)

    @extend_schema(
        summary="Import contacts from a spreadsheet",
        request={"multipart/form-data": ContactImportCreateSerializer},
        responses={202: ContactImportSerializer, 413: OpenApiResponse(
            ErrorSerializer, description="The file is larger than the import limit (file_too_large).")},
        examples=[_UPLOAD_EXAMPLE, _IMPORT_EXAMPLE],
        description="Stores the file (encrypted), checks the mapping and queues the import: the answer is "
                    "the import, usually still queued or running — poll GET /contact-imports/{id} until "
                    "finished. A file that is not a readable spreadsheet is a 400 invalid_file, one over "
                    "the size limit a 413 file_too_large, a mapping the import cannot use a 400 on "
                    "mapping; none of them leaves anything stored. Send an Idempotency-Key: a retry of "
                    "the same request never imports twice.")
    def create(self, request):
        _refuse_oversized_body(request)
        body = ContactImportCreateSerializer(data=_single_values(request.data))
        body.is_valid(raise_exception=True)
        values = body.validated_data
        uploaded, mapping = values["file"], values["mapping"]
        check_targets(self.actor, mapping)
        try:
            # The job's row and its stored file last only if the mapping fits the file's columns.
            with transaction.atomic():
                job = service.upload_file(actor=self.actor, name=uploaded.name, size=uploaded.size,
                                          chunks=uploaded.chunks())
                try:
                    service.set_first_row(actor=self.actor, job=job, is_data=values["first_row"] == "data")
                    targets = _by_position(job, mapping)
                except (serializers.ValidationError, service.FileProblem):
                    storage.delete_upload(job.organization_id, job.uuid)
                    raise
        except service.FileProblem as problem:
            raise _file_problem(problem, uploaded.size) from None
        # Outside any transaction of ours: the run must find the job committed (eager mode runs it now).
        problems = service.configure(actor=self.actor, job=job, mapping=targets,
                                     default_region=values.get("default_region") or job.default_region,
                                     on_existing=values["on_existing"])
        if problems:  # only if a custom field was deleted in between: the job stays unstarted
            raise serializers.ValidationError({"mapping": problems})
        job.refresh_from_db()
        location = request.build_absolute_uri(reverse("contact-import-detail", args=[job.pk]))
        return self._show(job, status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(summary="List imports", description="Newest first; cursor-paginated. Counts and states "
                   "only (no file names).", examples=[_IMPORT_EXAMPLE])
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(
            ContactImportSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(summary="Get an import", description="Its state, progress and row counts: poll it (every "
                   "few seconds) until finished is true.", examples=[_IMPORT_EXAMPLE])
    def retrieve(self, request, pk=None):
        return self._show(self.get_object())

    @extend_schema(
        summary="Download an import's error file",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=(
            "CSV with the columns row, result, column, reason: each row of the file that was not "
            "imported as-is (row numbers as a spreadsheet shows them) and why — never its values."))},
        description="The same file the web import offers, written as the import runs; audited as a "
                    "download naming the key once the whole file has been sent. 404 no_error_file while "
                    "the import has not started.")
    @action(detail=True, methods=["get"], filterset_class=None, filter_backends=[],
            content_negotiation_class=_AlwaysJson)
    def errors(self, request, pk=None):
        job = self.get_object()
        try:
            chunks = service.error_file(actor=self.actor, job=job)
        except FileNotFoundError:
            raise ApiError(status_code=status.HTTP_404_NOT_FOUND, code="no_error_file",
                           message="This import has no error file yet: it is written once the import "
                                   "starts reading rows.") from None
        response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rows-not-imported.csv"'
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(summary="List the fields a column can be mapped to", responses=MappingTargetsSerializer,
                   description="ignore, the standard fields, the organisation's custom fields "
                               "(custom:<key>) and new custom fields named after the column (new:<type>).",
                   examples=[OpenApiExample("Targets", response_only=True, value={"targets": [
                       {"value": "ignore", "label": "Ignore this column"},
                       {"value": "phone", "label": "Phone"},
                       {"value": "custom:insurer", "label": "Custom field: Insurer (text)"}]})])
    @action(detail=False, methods=["get"], url_path="mapping-targets", filterset_class=None,
            filter_backends=[], pagination_class=None)
    def mapping_targets(self, request):
        choices = service.mapping_choices(actor=self.actor)
        return Response({"targets": [{"value": value, "label": label} for value, label in choices]})


router = SimpleRouter(trailing_slash=False)
router.register("contact-imports", ContactImportViewSet, basename="contact-import")
