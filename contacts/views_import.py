"""The import wizard: upload → map columns → progress (polled JSON) → result + error file."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.roles import Perm
from contacts import selectors
from contacts.importing import service
from contacts.models import ImportJob

REGIONS = [("US", "United States / Canada (+1)"), ("GB", "United Kingdom (+44)"), ("IE", "Ireland (+353)"),
           ("FR", "France (+33)"), ("DE", "Germany (+49)"), ("ES", "Spain (+34)"), ("IT", "Italy (+39)"),
           ("NL", "Netherlands (+31)"), ("BE", "Belgium (+32)"), ("CH", "Switzerland (+41)"),
           ("PT", "Portugal (+351)"), ("MX", "Mexico (+52)"), ("BR", "Brazil (+55)"), ("IN", "India (+91)"),
           ("AU", "Australia (+61)"), ("NZ", "New Zealand (+64)"), ("ZA", "South Africa (+27)")]


def _importer(request):
    """The page's actor, refused unless it may import (the services check again)."""
    if request.actor is None:
        raise PermissionDenied("Choose an organisation first.")
    request.actor.require(Perm.CONTACTS_IMPORT)
    return request.actor


@login_required
def upload(request):
    actor = _importer(request)
    if request.method == "POST":
        uploaded = request.FILES.get("file")
        if uploaded is None:
            messages.error(request, "Choose a file to upload (CSV, XLSX or XLS).")
        else:
            try:
                job = service.upload_file(actor=actor, name=uploaded.name, size=uploaded.size,
                                          chunks=uploaded.chunks())
            except service.FileProblem as problem:
                messages.error(request, str(problem))
            else:
                return redirect("contacts:import_map", job.uuid)
    recent = selectors.recent_import_jobs(actor=request.actor)
    return render(request, "contacts/import_upload.html", {"recent": recent})


@login_required
def map_columns(request, job_uuid):
    actor = _importer(request)
    job = selectors.get_import_job(actor=actor, job_uuid=job_uuid)
    if job.status != ImportJob.Status.UPLOADED:
        return redirect("contacts:import_progress", job.uuid)
    if request.method == "POST" and request.POST.get("first_row") in ("data", "header"):
        # "My first row is data" / "… names the columns": columns renamed, mapping guessed again.
        service.set_first_row(actor=actor, job=job, is_data=request.POST["first_row"] == "data")
        return redirect("contacts:import_map", job.uuid)
    headers = job.headers or []
    mapping = job.mapping
    if request.method == "POST":
        mapping = [request.POST.get(f"column_{i}", "ignore") for i in range(len(headers))]
        problems = service.configure(actor=actor, job=job, mapping=mapping,
                                     default_region=request.POST.get("region", ""),
                                     on_existing=request.POST.get("on_existing", ""))
        if not problems:
            notice = service.queued_notice(job)
            if notice:
                messages.warning(request, notice)
            return redirect("contacts:import_progress", job.uuid)
        for problem in problems:
            messages.error(request, problem)
    try:
        # The uploader sees their own file's first rows again (it is their data, not yet stored).
        _, sample = service.preview(job)
    except service.FileProblem as problem:
        messages.error(request, str(problem))
        return redirect("contacts:import_upload")
    options = service.mapping_choices(actor=request.actor)
    columns = [{"index": i, "header": h, "target": mapping[i] if i < len(mapping) else "ignore",
                "samples": [row[i] for row in sample]} for i, h in enumerate(headers)]
    return render(request, "contacts/import_map.html", {
        "job": job, "columns": columns, "options": options, "sample": sample, "headers": headers,
        "regions": REGIONS, "region": request.POST.get("region", job.default_region),
        "on_existing_choices": ImportJob.OnExisting.choices,
    })


@login_required
def progress(request, job_uuid):
    actor = _importer(request)
    job = selectors.get_import_job(actor=actor, job_uuid=job_uuid)
    if job.is_finished:
        return redirect("contacts:import_result", job.uuid)
    return render(request, "contacts/import_progress.html", {"job": job})


def _status(job: ImportJob) -> dict:
    return {
        "status": job.status, "label": job.get_status_display(), "finished": job.is_finished,
        "percent": job.percent, "processed": job.processed_rows, "total": job.total_rows,
        "created": job.created_count, "updated": job.updated_count, "skipped": job.skipped_count,
        "failed": job.failed_count, "result_url": reverse("contacts:import_result", args=[job.uuid]),
    }


@login_required
@require_GET
def status(request, job_uuid):
    """Small JSON for the progress bar (counts only, no PHI), polled by static/js/contacts-import.js."""
    actor = _importer(request)
    return JsonResponse(_status(selectors.get_import_job(actor=actor, job_uuid=job_uuid)))


@login_required
def result(request, job_uuid):
    actor = _importer(request)
    job = selectors.get_import_job(actor=actor, job_uuid=job_uuid)
    if not job.is_finished:
        return redirect("contacts:import_progress", job.uuid)
    return render(request, "contacts/import_result.html", {"job": job, "status": _status(job)})


@login_required
def error_file(request, job_uuid):
    actor = _importer(request)
    job = selectors.get_import_job(actor=actor, job_uuid=job_uuid)
    try:
        body = service.error_file(actor=actor, job=job)
    except FileNotFoundError:
        messages.info(request, "Every row of this import was imported: there is no error file.")
        return redirect("contacts:import_result", job.uuid)
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rows-not-imported.csv"'
    response["Cache-Control"] = "no-store"
    return response
