"""The intake bot's staff pages: thin doors onto services and selectors (which check roles)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Perm
from campaigns.intake import exporting, poster, selectors, services
from campaigns.intake.answers import display
from campaigns.intake.forms import PosterForm, QuestionForm, QuestionnaireForm, StartForm
from campaigns.intake.services import IntakeError
from messaging import selectors as messaging_selectors

PAGE_SIZE = 50


def _settings_values(form) -> dict:
    return dict(form.cleaned_data)


@login_required
@require_GET
def questionnaire_list(request):
    rows = selectors.questionnaires(actor=request.actor)
    return render(
        request, "intake/list.html", {"rows": rows, "can_manage": request.actor.can(Perm.CAMPAIGNS_MANAGE)}
    )


@login_required
def questionnaire_create(request):
    request.actor.require(Perm.CAMPAIGNS_MANAGE)
    form = QuestionnaireForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            questionnaire = services.create_questionnaire(actor=request.actor, **_settings_values(form))
        except IntakeError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Questionnaire created: now add its questions.")
            return redirect("intake:detail", questionnaire_id=questionnaire.pk)
    return render(request, "intake/form.html", {"form": form, "title": "New questionnaire"})


@login_required
def questionnaire_detail(request, questionnaire_id: int):
    questionnaire = selectors.get_questionnaire(actor=request.actor, questionnaire_id=questionnaire_id)
    settings_form = QuestionnaireForm(instance=questionnaire)
    question_form = QuestionForm(actor=request.actor)
    if request.method == "POST":
        settings_form = QuestionnaireForm(request.POST, instance=questionnaire)
        if settings_form.is_valid():
            try:
                services.update_questionnaire(
                    questionnaire=questionnaire, actor=request.actor, **_settings_values(settings_form)
                )
            except IntakeError as error:
                settings_form.add_error(None, error.message)
            else:
                messages.success(request, "Saved. Patients already answering keep the version they started.")
                return redirect("intake:detail", questionnaire_id=questionnaire.pk)
        questionnaire.refresh_from_db()
    return render(
        request,
        "intake/detail.html",
        {
            "questionnaire": questionnaire,
            "questions": list(questionnaire.questions.all()),
            "settings_form": settings_form,
            "question_form": question_form,
            "can_manage": request.actor.can(Perm.CAMPAIGNS_MANAGE),
            "in_flight": selectors.sessions_in_progress(actor=request.actor, questionnaire=questionnaire),
        },
    )


@login_required
@require_POST
def question_add(request, questionnaire_id: int):
    questionnaire = selectors.get_questionnaire(actor=request.actor, questionnaire_id=questionnaire_id)
    form = QuestionForm(request.POST, actor=request.actor)
    if form.is_valid():
        try:
            services.add_question(questionnaire=questionnaire, actor=request.actor, **form.service_values())
        except IntakeError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Question added.")
    else:
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            messages.error(request, f"{label}: {errors[0]}" if label else errors[0])
    return redirect("intake:detail", questionnaire_id=questionnaire.pk)


@login_required
def question_edit(request, question_id: int):
    question = selectors.get_question(actor=request.actor, question_id=question_id)
    form = QuestionForm(request.POST or None, instance=question, actor=request.actor)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_question(question=question, actor=request.actor, **form.service_values())
        except IntakeError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Question saved.")
            return redirect("intake:detail", questionnaire_id=question.questionnaire_id)
    return render(
        request, "intake/form.html", {"form": form, "title": "Edit question", "back": question.questionnaire}
    )


@login_required
@require_POST
def question_delete(request, question_id: int):
    question = selectors.get_question(actor=request.actor, question_id=question_id)
    try:
        services.remove_question(question=question, actor=request.actor)
    except IntakeError as error:
        messages.error(request, error.message)
    return redirect("intake:detail", questionnaire_id=question.questionnaire_id)


@login_required
@require_POST
def question_move(request, question_id: int):
    question = selectors.get_question(actor=request.actor, question_id=question_id)
    try:
        services.move_question(
            question=question, actor=request.actor, up=request.POST.get("direction") == "up"
        )
    except IntakeError as error:
        messages.error(request, error.message)
    return redirect("intake:detail", questionnaire_id=question.questionnaire_id)


@login_required
@require_POST
def questionnaire_delete(request, questionnaire_id: int):
    questionnaire = selectors.get_questionnaire(actor=request.actor, questionnaire_id=questionnaire_id)
    ended = services.delete_questionnaire(questionnaire=questionnaire, actor=request.actor)
    messages.success(
        request,
        f"Questionnaire removed ({ended} patient(s) answering were told politely). "
        "Its submissions stay available for export.",
    )
    return redirect("intake:list")


# --- submissions -----------------------------------------------------------------------------------
@login_required
@require_GET
def submission_list(request, questionnaire_id: int):
    questionnaire = selectors.get_questionnaire(actor=request.actor, questionnaire_id=questionnaire_id)
    status = request.GET.get("status", "")
    rows = selectors.submissions(actor=request.actor, questionnaire=questionnaire, status=status)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "intake/submissions.html",
        {
            "questionnaire": questionnaire,
            "page": page,
            "status": status,
            "can_export": request.actor.can(Perm.CONTACTS_EXPORT),
        },
    )


@login_required
@require_GET
def submission_detail(request, submission_id: int):
    submission = selectors.open_submission(actor=request.actor, submission_id=submission_id)
    language = submission.version.snapshot.get("language", "en")
    rows = []
    for question in submission.version.questions:
        value = (submission.answers or {}).get(question["key"])
        photo_id = value.get("photo_id") if isinstance(value, dict) else None
        rows.append(
            {
                "prompt": question["prompt"],
                "key": question["key"],
                "photo_id": photo_id,
                "answer": "" if photo_id else display(question, value, language),
                "skipped": value is None,
            }
        )
    return render(
        request,
        "intake/submission.html",
        {
            "submission": submission,
            "rows": rows,
            "conflicts": selectors.conflicts_of(submission),
            "can_edit": request.actor.can(Perm.CONTACTS_EDIT),
        },
    )


@login_required
@require_POST
def submission_review(request, submission_id: int):
    submission = selectors.open_submission(actor=request.actor, submission_id=submission_id)
    services.mark_reviewed(
        submission=submission, actor=request.actor, reviewed=request.POST.get("reviewed") != "0"
    )
    messages.success(
        request, "Marked reviewed." if request.POST.get("reviewed") != "0" else "Marked to review."
    )
    return redirect("intake:submission", submission_id=submission.pk)


@login_required
@require_POST
def conflict_resolve(request, conflict_id: int):
    conflict = selectors.get_conflict(actor=request.actor, conflict_id=conflict_id)
    accept = request.POST.get("decision") == "accept"
    try:
        services.resolve_conflict(conflict=conflict, actor=request.actor, accept=accept)
    except IntakeError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, "The patient's record was updated." if accept else "Kept the record as it was."
        )
    return redirect("intake:submission", submission_id=conflict.submission_id)


@login_required
@require_GET
def photo(request, photo_id: int):
    item, content = selectors.open_photo(actor=request.actor, photo_id=photo_id)
    response = HttpResponse(content, content_type=item.content_type)
    response["Cache-Control"] = "no-store"
    response["Content-Disposition"] = f'inline; filename="intake-photo-{item.pk}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def export(request, questionnaire_id: int):
    questionnaire = selectors.get_questionnaire(actor=request.actor, questionnaire_id=questionnaire_id)
    file_format = request.POST.get("format", "csv")
    if file_format not in exporting.FORMATS:
        raise Http404("Unknown export format.")
    content_type, body = exporting.export_submissions(
        actor=request.actor, questionnaire=questionnaire, file_format=file_format
    )
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="intake-{questionnaire.pk}-submissions.{file_format}"'
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def results(request, questionnaire_id: int):
    questionnaire = selectors.get_questionnaire(actor=request.actor, questionnaire_id=questionnaire_id)
    return render(
        request,
        "intake/results.html",
        {
            "questionnaire": questionnaire,
            "results": selectors.results(actor=request.actor, questionnaire=questionnaire),
        },
    )


# --- starting ----------------------------------------------------------------------------------------
@login_required
def start(request):
    """Staff send a questionnaire to one patient (from the contact page or the inbox)."""
    request.actor.require(Perm.MESSAGES_SEND)
    contact_id = request.POST.get("contact") or request.GET.get("contact") or ""
    if not contact_id.isdigit():
        raise Http404("No such contact.")
    form = StartForm(
        request.POST or None,
        questionnaires=selectors.questionnaires(actor=request.actor).filter(is_active=True),
        channels=messaging_selectors.active_channel_choices(actor=request.actor),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.start_for_contact(
                questionnaire=form.cleaned_data["questionnaire"],
                contact_id=int(contact_id),
                channel=form.cleaned_data["channel"],
                actor=request.actor,
            )
        except IntakeError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Sent: the patient received the first question.")
            return redirect("contacts:detail", contact_id=int(contact_id))
    return render(request, "intake/start.html", {"form": form, "contact_id": contact_id})


@login_required
@require_POST
def take_over(request, session_id: int):
    session = selectors.get_session(actor=request.actor, session_id=session_id)
    services.take_over(session=session, actor=request.actor)
    messages.success(request, "You have the conversation: the bot stopped asking.")
    if session.conversation_id:
        return redirect("messaging:thread", conversation_id=session.conversation_id)
    return redirect("intake:detail", questionnaire_id=session.questionnaire_id)


@login_required
def poster_view(request, questionnaire_id: int):
    questionnaire = selectors.get_questionnaire(actor=request.actor, questionnaire_id=questionnaire_id)
    form = PosterForm(request.POST or None,
                      channels=messaging_selectors.active_channel_choices(actor=request.actor,
                                                                          perm=Perm.CAMPAIGNS_VIEW))
    if request.method == "POST" and form.is_valid():
        response = _poster_download(request, questionnaire, form)
        if response is not None:
            return response
    return render(request, "intake/poster.html", {"questionnaire": questionnaire, "form": form})


def _poster_download(request, questionnaire, form) -> HttpResponse | None:
    keywords = questionnaire.keywords()
    if not keywords:
        form.add_error(
            None, "Give the questionnaire a start keyword first: the poster tells patients to text it."
        )
        return None
    channel = form.cleaned_data["channel"]
    number = form.cleaned_data["number"] or channel.address
    try:
        link = poster.start_link(
            kind=channel.kind, number=number, keyword=keywords[0], region=request.organization.default_region
        )
    except ValueError:
        form.add_error(
            "number",
            "That channel's address is not a phone number: type the number patients text, "
            "with its country code.",
        )
        return None
    file_format = form.cleaned_data["file_format"]
    content = poster.render(
        title=request.organization.name,
        keyword=keywords[0],
        number=number,
        link=link,
        file_format=file_format,
        language=questionnaire.language,
    )
    response = HttpResponse(content, content_type="application/pdf" if file_format == "pdf" else "image/png")
    response["Content-Disposition"] = f'attachment; filename="intake-{questionnaire.pk}-poster.{file_format}"'
    return response
