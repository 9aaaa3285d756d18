"""Sign-in (password, then second factor), sign-out, sign-up and e-mail verification."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.generic import FormView
from two_factor.forms import AuthenticationTokenForm, BackupTokenForm
from two_factor.views import LoginView as TwoFactorLoginView
from two_factor.views.utils import IdempotentSessionWizardView

from accounts import signup
from accounts.audit_hooks import record_for_user
from accounts.forms import EmailAuthenticationForm, SignupForm
from accounts.otp_delivery import OTPDeliveryUnavailable
from accounts.security import record_sign_in
from audit import AuditAction

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class LoginView(TwoFactorLoginView):
    """Password first; then the code from the person's second factor, when they have one."""

    form_list = (
        (TwoFactorLoginView.AUTH_STEP, EmailAuthenticationForm),
        (TwoFactorLoginView.TOKEN_STEP, AuthenticationTokenForm),
        (TwoFactorLoginView.BACKUP_STEP, BackupTokenForm),
    )
    redirect_authenticated_user = True

    def done(self, form_list, **kwargs):
        response = super().done(form_list, **kwargs)
        record_sign_in(self.request.user, device=getattr(self.request.user, "otp_device", None))
        return response

    def render(self, form=None, **kwargs):
        try:
            return super().render(form, **kwargs)
        except OTPDeliveryUnavailable:
            # No messaging sender to text the code: offer the other factors instead of an error page.
            return IdempotentSessionWizardView.render(self, form, delivery_failed=True, **kwargs)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            record_for_user(AuditAction.LOGOUT, request.user, actor=request.user, detail={"reason": "user"})
        return super().post(request, *args, **kwargs)


class SignupView(FormView):
    """A new clinic signs up: its first user becomes the owner and must confirm their e-mail."""

    template_name = "accounts/signup.html"
    form_class = SignupForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("dashboard")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            user, _organization = signup.sign_up(
                email=data["email"], password=data["password1"], full_name=data["full_name"],
                organization_name=data["organization_name"])
        except ValidationError as error:
            field = "email" if getattr(error, "code", "") == "email_taken" else "password1"
            form.add_error(field, error)
            return self.form_invalid(form)
        login(self.request, user, backend=MODEL_BACKEND)
        return redirect("verify_email_sent")


@never_cache
def verify_email(request, uidb64: str, token: str):
    """The link from the confirmation e-mail."""
    try:
        user = signup.verify_email(uidb64=uidb64, token=token)
    except signup.VerificationLinkInvalid as error:
        return render(request, "accounts/verify_email_failed.html", {"reason": str(error)}, status=400)
    messages.success(request, "Thank you: your e-mail address is confirmed.")
    if request.user.is_authenticated and request.user.pk == user.pk:
        return redirect("dashboard")
    return redirect("login")


@never_cache
@login_required
def verify_email_sent(request):
    if request.user.email_verified_at is not None or not request.user.email_verification_required:
        return redirect("dashboard")
    return render(request, "accounts/verify_email_sent.html")


@require_POST
@login_required
def resend_verification(request):
    user = request.user
    if user.email_verified_at is None:
        # One e-mail a minute at most: the button cannot be used to flood a mailbox.
        if cache.add(f"accounts:resend-verification:{user.pk}", 1, timeout=60):
            signup.send_verification_email(user)
            messages.success(request, "We sent a new confirmation link. It replaces the earlier ones.")
        else:
            messages.warning(request, "We sent a link less than a minute ago. "
                                      "Check your inbox and spam folder.")
    return redirect("verify_email_sent")


@require_POST
@login_required
def session_ping(request):
    """Keeps an active page's session alive (accounts-idle.js posts here while the person works)."""
    return HttpResponse(status=204)
