"""Partner API for intake questionnaires and their submissions: read the questionnaires, start one
for a patient, count where patients stop, list and open submissions, mark them reviewed, export.

Thin doors onto the intake selectors, services and exporter, each of which checks the key's
permission and records the audit event, so the API and the web UI (campaigns/intake/views.py)
ask for the same permissions and leave the same audit trail:

- questionnaires and results: campaigns.view; opening a submission is the web's audited PHI
  read (``open_submission``); the list shows ids and dates only, unaudited like the web's;
- starting: messaging.send, like the web's "Send questionnaire", plus the reads it makes
  (campaigns.view, contacts.view for the service's audited contact read, messaging.view_inbox
  for the channel); review: contacts.edit; export: contacts.export.

No PHI in URLs: filters are ids and states. ``IntakeError`` refusals become the one error shape
in ``intake_errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import django_filters
from django import forms
from django.http import StreamingHttpResponse
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.partner_api.errors import ApiError
from accounts.partner_api.filters import StrictFilterSet
from accounts.partner_api.schema import ErrorSerializer
from accounts.partner_api.serializers import (
    OrganizationScopedPrimaryKey,
    StrictBooleanField,
    StrictSerializer,
)
from accounts.partner_api.viewsets import TenantViewSet
from accounts.roles import Perm
from campaigns.intake import exporting, selectors, services
from campaigns.intake.answers import display
from campaigns.intake.models import IntakeSession, QuestionKind, Questionnaire, Submission
from contacts import api_selectors as contact_selectors
from messaging import selectors as messaging_selectors
from messaging.api import SEND_OVER_PLAN
from messaging.services.outbound import SendRefused

_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}

@contextmanager
def intake_errors() -> Iterator[None]:
    """The intake services' refusals as the API's one error shape (the one place they are mapped).

    Messaging refusing the first question (opted out, WhatsApp window closed) is a 422 with
    messaging's own reason code, as on ``POST /conversations/{id}/reply``, and the plan refusing it
    a 402 with billing's numbers, as there; a questionnaire or patient in the wrong state is a 409.
    The messages name no patient data.
    """
    try:
        yield
    except services.IntakeError as exc:
        if isinstance(exc.refusal, SendRefused) and exc.refusal.quota is not None:
            raise exc.refusal from None  # answered as the reply's: 402, needed/included/used/remaining
        if isinstance(exc.refusal, SendRefused):
            raise ApiError(status_code=status.HTTP_422_UNPROCESSABLE_ENTITY, code=exc.code,
                           message=exc.message) from None
        raise ApiError(status_code=status.HTTP_409_CONFLICT, code=exc.code, message=exc.message) from None


# --- serializers ---------------------------------------------------------------------------------
class ConditionSerializer(serializers.Serializer):
    question = serializers.CharField(help_text="The key of the earlier question it depends on.")
    answer = serializers.CharField(help_text="Asked only when that answer is this (yes, no or an option).")


class QuestionSerializer(serializers.Serializer):
    """One question of the current version (clinic-written text and rules: no patient data)."""

    key = serializers.CharField(help_text="Its column in exports and its key in a submission's answers.")
    type = serializers.ChoiceField(source="kind", choices=QuestionKind.choices)
    prompt = serializers.CharField()
    required = serializers.BooleanField()
    choices = serializers.ListField(child=serializers.CharField(),
                                    help_text="The options of a choice question, in order (else empty).")
    condition = serializers.SerializerMethodField()

    @extend_schema_field(ConditionSerializer(allow_null=True))
    def get_condition(self, question: dict) -> dict | None:
        if not question.get("condition_key"):
            return None
        return {"question": question["condition_key"], "answer": question.get("condition_value", "")}


class QuestionnaireSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    language = serializers.CharField(help_text="en or es: the language of the bot's own words.")
    keywords = serializers.SerializerMethodField()
    is_active = serializers.BooleanField(help_text="Switched off: patients cannot start it, nor can you.")
    version = serializers.SerializerMethodField()
    questions = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField(),
                                               help_text="Words a patient texts to start it (upper case)."))
    def get_keywords(self, questionnaire: Questionnaire) -> list[str]:
        return questionnaire.keywords()

    @extend_schema_field(serializers.IntegerField(allow_null=True, help_text=(
        "The current version: editing questions makes a new one once patients have answered; "
        "each submission names the version it answered.")))
    def get_version(self, questionnaire: Questionnaire) -> int | None:
        return questionnaire.current_version.number if questionnaire.current_version else None

    @extend_schema_field(QuestionSerializer(many=True))
    def get_questions(self, questionnaire: Questionnaire) -> list[dict]:
        current = questionnaire.current_version
        return QuestionSerializer(current.questions if current else [], many=True).data


class SessionSerializer(serializers.Serializer):
    """An intake session (who is answering what, where): ids, state and times, never answers."""

    id = serializers.IntegerField()
    questionnaire = serializers.IntegerField(source="questionnaire_id")
    version = serializers.IntegerField(source="version.number")
    contact = serializers.IntegerField(source="contact_id")
    channel = serializers.IntegerField(source="channel_id")
    conversation = serializers.IntegerField(source="conversation_id", allow_null=True,
                                            help_text="The patient's open conversation on the channel, if "
                                                      "there was one when it started.")
    status = serializers.ChoiceField(choices=IntakeSession.Status.choices)
    via = serializers.ChoiceField(choices=IntakeSession.Via.choices,
                                  help_text="staff for sessions started through the API or the web UI.")
    started_at = serializers.DateTimeField()


@extend_schema_field(_ID)
class _OwnRow(OrganizationScopedPrimaryKey):
    """An id among a selector's rows of the key's organisation (doors read PHI models through
    selectors, never their managers). A JSON integer only: DRF would take "5" too."""

    def __init__(self, *, rows, missing: str, **kwargs):
        self._rows = rows
        super().__init__(error_messages={"does_not_exist": missing}, **kwargs)

    def get_queryset(self):
        self.queryset = self._rows(self.context["request"].user.actor)
        return super().get_queryset()

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


def _contacts(actor):
    # Only the id is loaded here (nothing decrypted); the service reads the contact, audited.
    return contact_selectors.partner_contacts(actor=actor).only("pk", "organization")


def _channels(actor):
    return messaging_selectors.partner_channels(actor=actor).filter(is_active=True)


class StartSerializer(StrictSerializer):
    """Who to send the questionnaire to, and on which channel."""

    contact = _OwnRow(rows=_contacts, missing="No contact of your organisation has this id.",
                      help_text="The patient (an id from GET /contacts).")
    channel = _OwnRow(rows=_channels, required=False,
                      missing="No active channel of your organisation has this id (GET /channels).",
                      help_text="The channel to text them on (an id from GET /channels); the "
                                "organisation's default channel when left out.")


class ReviewSerializer(StrictSerializer):
    """Reviewed (the default) or back to review."""

    reviewed = StrictBooleanField(required=False, default=True,
                                  help_text="false puts it back among those to review.")


class DropOffSerializer(serializers.Serializer):
    key = serializers.CharField()
    prompt = serializers.CharField()
    stopped_here = serializers.IntegerField(help_text="Sessions that ended (expired, stopped, taken over…) "
                                                      "while this question was being asked.")
    percent = serializers.IntegerField(help_text="Share of all such endings, 0 to 100.")


class ResultsSerializer(serializers.Serializer):
    started = serializers.IntegerField(help_text="Sessions ever started, any version.")
    in_progress = serializers.IntegerField()
    completed = serializers.IntegerField()
    expired = serializers.IntegerField()
    stopped = serializers.IntegerField(help_text="The patient opted out (STOP) mid-way.")
    other = serializers.IntegerField(help_text="Taken over by staff, or ended because the questionnaire "
                                               "was removed.")
    completion_percent = serializers.IntegerField()
    drop_off = DropOffSerializer(many=True, help_text="Current questions in order, then retired ones.")


class SubmissionSerializer(serializers.Serializer):
    """A submission without its answers (those only on GET /submissions/{id}, audited)."""

    id = serializers.IntegerField()
    questionnaire = serializers.IntegerField(source="questionnaire_id")
    version = serializers.IntegerField(source="version.number", help_text="The version it answered.")
    contact = serializers.IntegerField(source="contact_id", allow_null=True,
                                       help_text="null once the contact was deleted.")
    submitted_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    contact_update = serializers.ChoiceField(
        choices=Submission.ContactUpdate.choices,
        help_text="Whether the answers filled the contact's empty fields, or disagree with filled ones "
                  "(staff resolve those in the web UI).")


class AnswerSerializer(serializers.Serializer):
    key = serializers.CharField()
    prompt = serializers.CharField()
    type = serializers.ChoiceField(choices=QuestionKind.choices)
    value = serializers.JSONField(allow_null=True, help_text=(
        "As stored: text, a yes/no boolean, a list of options, a date as YYYY-MM-DD, "
        '{"photo_id": n} for a photo; null when skipped or not asked.'))
    text = serializers.CharField(help_text="As staff read it and exports write it (empty when skipped).")


class SubmissionDetailSerializer(SubmissionSerializer):
    answers = serializers.SerializerMethodField()

    @extend_schema_field(AnswerSerializer(many=True))
    def get_answers(self, submission: Submission) -> list[dict]:
        answers = submission.answers or {}
        language = submission.version.snapshot.get("language", "en")
        rows = []
        for question in submission.version.questions:
            value = answers.get(question["key"])
            rows.append({"key": question["key"], "prompt": question["prompt"], "type": question["kind"],
                         "value": value, "text": display(question, value, language)})
        return AnswerSerializer(rows, many=True).data


# --- questionnaires ------------------------------------------------------------------------------
class _FileNegotiation(DefaultContentNegotiation):
    """On the export, ``?format=`` names the file (checked by the view, a 400 when unknown), not a
    renderer: DRF would answer an unknown one with a bare 404. Errors stay JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


_QUESTIONNAIRE_EXAMPLE = OpenApiExample("A questionnaire", response_only=True, value={
    "id": 3, "name": "New patient intake", "language": "en", "keywords": ["INTAKE"], "is_active": True,
    "version": 2, "questions": [
        {"key": "dob", "type": "date", "prompt": "Your date of birth?", "required": True, "choices": [],
         "condition": None},
        {"key": "insured", "type": "yes_no", "prompt": "Do you have insurance?", "required": True,
         "choices": [], "condition": None},
        {"key": "insurer", "type": "single_choice", "prompt": "Which insurer?", "required": False,
         "choices": ["Acme Health", "Other"], "condition": {"question": "insured", "answer": "yes"}}],
    "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-02T10:00:00Z"})
_SESSION_EXAMPLE = OpenApiExample("Started", response_only=True, value={
    "id": 17, "questionnaire": 3, "version": 2, "contact": 42, "channel": 1, "conversation": 7,
    "status": "active", "via": "staff", "started_at": "2026-12-03T09:00:00Z"})
_FORMAT = OpenApiParameter("format", str, enum=list(exporting.FORMATS), default="csv",
                           description="csv (UTF-8 with BOM, for Excel) or xlsx.")


class QuestionnaireViewSet(TenantViewSet):
    """The organisation's intake questionnaires (removed ones are gone from here)."""

    model = Questionnaire
    # Any id reaches the view, which answers our JSON 404 (the default pattern stops at a dot,
    # and Django's HTML 404 page is not the API's error shape).
    lookup_value_regex = "[^/]+"
    serializer_class = QuestionnaireSerializer
    parser_classes = [JSONParser]
    ordering_fields = ["id", "name"]
    action_perms = {
        "list": Perm.CAMPAIGNS_VIEW, "retrieve": Perm.CAMPAIGNS_VIEW, "results": Perm.CAMPAIGNS_VIEW,
        # The web UI's perms: sending is staff's messaging.send, exporting an admin's contacts.export.
        "start": Perm.MESSAGES_SEND, "export": Perm.CONTACTS_EXPORT,
    }

    def base_queryset(self, actor):
        return selectors.questionnaires(actor=actor)

    def _questionnaire(self, pk) -> Questionnaire:
        return selectors.get_questionnaire(actor=self.actor, questionnaire_id=pk)

    @extend_schema(summary="List questionnaires", examples=[_QUESTIONNAIRE_EXAMPLE],
                   description="Newest first; their current questions (no patient data).")
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(QuestionnaireSerializer(page, many=True).data)

    @extend_schema(summary="Get a questionnaire", examples=[_QUESTIONNAIRE_EXAMPLE])
    def retrieve(self, request, pk=None):
        return Response(QuestionnaireSerializer(self._questionnaire(pk)).data)

    @extend_schema(
        summary="Send a questionnaire to a patient", request=StartSerializer,
        responses={201: SessionSerializer,
                   409: OpenApiResponse(ErrorSerializer, description=(
                       "intake_in_progress: the patient is already answering one on that channel; "
                       "questionnaire_inactive / questionnaire_empty: switch it on, add a question.")),
                   402: SEND_OVER_PLAN,  # the first question's send, refused by the plan
                   422: OpenApiResponse(ErrorSerializer, description=(
                       "Messaging refused the first question, with its reason code (opted_out, "
                       "window_closed, …): nothing was started."))},
        description="Texts the patient the intro and the first question now; their replies answer it. "
                    "Needs messages:write (and campaigns:read, contacts:read, messages:read for the "
                    "reads it makes). Send an Idempotency-Key: a retry never starts it twice.",
        examples=[OpenApiExample("Start", request_only=True, value={"contact": 42, "channel": 1}),
                  _SESSION_EXAMPLE])
    @action(detail=True, methods=["post"], filter_backends=[])
    def start(self, request, pk=None):
        questionnaire = self._questionnaire(pk)  # before the body: another organisation's id is a 404
        body = StartSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        channel = body.validated_data.get("channel") or _channels(self.actor).filter(is_default=True).first()
        if channel is None:
            raise serializers.ValidationError({"channel": [
                "Your organisation has no active default channel: name one (GET /channels lists them)."]})
        with intake_errors():
            session = services.start_for_contact(questionnaire=questionnaire,
                                                 contact_id=body.validated_data["contact"].pk,
                                                 channel=channel, actor=self.actor)
        return Response(SessionSerializer(session).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="A questionnaire's results", responses=ResultsSerializer,
                   description="Sessions by outcome, and the question each unfinished one ended on. "
                               "Counts only.")
    @action(detail=True, methods=["get"], filter_backends=[])
    def results(self, request, pk=None):
        results = selectors.results(actor=self.actor, questionnaire=self._questionnaire(pk))
        return Response(ResultsSerializer(results).data)

    @extend_schema(
        summary="Export a questionnaire's submissions", parameters=[_FORMAT],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description=(
                       "One row per submission, one column per question ever asked.")),
                   (200, exporting.CONTENT_TYPES["xlsx"]): OpenApiResponse(OpenApiTypes.BINARY)},
        description="The web UI's export: every submission with its answers, a cell starting with "
                    "= + - @ neutralised with an apostrophe (xlsx cells are text, never formulas). Audited "
                    "(the row count and format, never the answers). Needs contacts:export and "
                    "campaigns:read.")
    @action(detail=True, methods=["get"], filter_backends=[],
            content_negotiation_class=_FileNegotiation)
    def export(self, request, pk=None):
        questionnaire = self._questionnaire(pk)
        file_format = request.query_params.get("format", "csv")
        if file_format not in exporting.FORMATS:
            raise serializers.ValidationError({"format": ["Choose csv or xlsx."]})
        content_type, chunks = exporting.export_submissions(actor=self.actor, questionnaire=questionnaire,
                                                            file_format=file_format)
        response = StreamingHttpResponse(chunks, content_type=content_type)
        response["Content-Disposition"] = (
            f'attachment; filename="intake-{questionnaire.pk}-submissions.{file_format}"')
        response["Cache-Control"] = "no-store"
        return response


# --- submissions ---------------------------------------------------------------------------------
@extend_schema_field(_ID)
class _IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class SubmissionFilter(StrictFilterSet):
    questionnaire = _IntegerFilter(required=True, min_value=1, max_value=2**31 - 1, method="read_by_view",
                                   help_text="The questionnaire (its id): submissions are listed per "
                                             "questionnaire.")
    status = django_filters.ChoiceFilter(
        choices=[("to_review", "Not reviewed yet"), ("conflicts", "Answers disagree with the contact")],
        method="read_by_view", help_text="Only those not reviewed yet, or those with contact-field "
                                         "conflicts.")

    class Meta:
        model = Submission
        fields = ["questionnaire", "status"]

    def read_by_view(self, queryset, name, value):
        return queryset  # SubmissionViewSet.base_queryset hands both to the selector


_SUBMISSION_EXAMPLE = OpenApiExample("A submission", response_only=True, value={
    "id": 9, "questionnaire": 3, "version": 2, "contact": 42, "submitted_at": "2026-12-03T09:12:00Z",
    "reviewed_at": None, "contact_update": "applied", "answers": [
        {"key": "dob", "prompt": "Your date of birth?", "type": "date", "value": "1980-02-29",
         "text": "1980-02-29"},
        {"key": "insured", "prompt": "Do you have insurance?", "type": "yes_no", "value": True,
         "text": "yes"}]})


class SubmissionViewSet(TenantViewSet):
    """Completed questionnaires: the patient's answers, with the version they answered."""

    model = Submission
    lookup_value_regex = "[^/]+"  # any id reaches the view, which answers the JSON 404
    serializer_class = SubmissionSerializer
    parser_classes = [JSONParser]
    filterset_class = SubmissionFilter
    ordering_fields = ["id", "submitted_at"]
    action_perms = {"list": Perm.CAMPAIGNS_VIEW, "retrieve": Perm.CAMPAIGNS_VIEW,
                    "review": Perm.CONTACTS_EDIT}

    def base_queryset(self, actor):
        """The list's rows: one questionnaire's submissions, through the web UI's selector."""
        filters = SubmissionFilter(self.request.query_params, request=self.request)
        if not filters.is_valid():
            raise translate_validation(filters.errors)
        wanted = filters.form.cleaned_data
        questionnaire = selectors.get_questionnaire(actor=actor, questionnaire_id=wanted["questionnaire"])
        rows = selectors.submissions(actor=actor, questionnaire=questionnaire, status=wanted["status"] or "")
        # The list shows the contact's id only: don't load (and decrypt) the contact rows.
        return rows.select_related(None).select_related("version")

    @extend_schema(summary="List a questionnaire's submissions", parameters=[
                       OpenApiParameter("questionnaire", _ID, required=True,
                                        description="The questionnaire's id: submissions are listed per "
                                                    "questionnaire, as in the web UI.")],
                   description="Newest first, without answers (open one for those). Another "
                               "organisation's questionnaire id is a 404.")
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(SubmissionSerializer(page, many=True).data)

    @extend_schema(summary="Get a submission with its answers", responses=SubmissionDetailSerializer,
                   description="The answers decrypted, in the version's question order; audited as "
                               "viewed with your key as the actor.", examples=[_SUBMISSION_EXAMPLE])
    def retrieve(self, request, pk=None):
        submission = selectors.open_submission(actor=self.actor, submission_id=pk)
        return Response(SubmissionDetailSerializer(submission).data)

    @extend_schema(summary="Mark a submission reviewed", request=ReviewSerializer,
                   responses=SubmissionSerializer,
                   description='Or {"reviewed": false} to put it back among those to review. Reads the '
                               "submission like the web UI's review button (audited as viewed) and answers "
                               "without its answers. Needs contacts:write and campaigns:read.",
                   examples=[OpenApiExample("Reviewed", request_only=True, value={"reviewed": True})])
    @action(detail=True, methods=["post"], filterset_class=None, filter_backends=[])
    def review(self, request, pk=None):
        body = ReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        submission = selectors.open_submission(actor=self.actor, submission_id=pk)
        submission = services.mark_reviewed(submission=submission, actor=self.actor,
                                            reviewed=body.validated_data["reviewed"])
        return Response(SubmissionSerializer(submission).data)


router = SimpleRouter(trailing_slash=False)
router.register("questionnaires", QuestionnaireViewSet, basename="questionnaire")
router.register("submissions", SubmissionViewSet, basename="submission")
