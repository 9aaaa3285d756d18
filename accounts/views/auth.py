"""Sign-in (password, then second factor), sign-out, sign-up and e-mail verification."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import FormView
from two_factor.forms import AuthenticationTokenForm, BackupTokenForm
from two_factor.views import LoginView as TwoFactorLoginView
from two_factor.views.utils import IdempotentSessionWizardView

from accounts import lockout, ratelimit, signup
from accounts.access_middleware import idle_seconds_left
from accounts.audit_hooks import SESSION_SIGNUP_PENDING, record_for_user
from accounts.email_address import canonical_email
from accounts.forms import EmailAuthenticationForm, SignupForm
from accounts.models import User
from accounts.otp_delivery import OTPDeliveryUnavailable
from accounts.security import has_two_factor, record_sign_in
from audit import AuditAction

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SECOND_FACTOR_STAGE = "second_factor"


class LoginView(TwoFactorLoginView):
    """Password first; then the code from the person's second factor, when they have one.

    A wrong code counts toward the same django-axes lockout as a wrong password (five lock the
    e-mail for this address for 30 minutes) and is audited as LOGIN_FAILED, stage "second_factor".
    While locked, codes are refused unchecked and the half-finished sign-in is dropped.
    """

    form_list = (
        (TwoFactorLoginView.AUTH_STEP, EmailAuthenticationForm),
        (TwoFactorLoginView.TOKEN_STEP, AuthenticationTokenForm),
        (TwoFactorLoginView.BACKUP_STEP, BackupTokenForm),
    )
    redirect_authenticated_user = True
    SECOND_FACTOR_STEPS = (TwoFactorLoginView.TOKEN_STEP, TwoFactorLoginView.BACKUP_STEP)

    def _second_factor_credentials(self) -> dict | None:
        user = self.get_user()
        if not user:
            return None
        return {"username": canonical_email(user.email), "stage": SECOND_FACTOR_STAGE}

    def _posting_a_code(self) -> bool:
        posted_step = self.request.POST.get(f"{self.prefix}-current_step")
        return (posted_step in self.SECOND_FACTOR_STEPS and "challenge_device" not in self.request.POST
                and "wizard_goto_step" not in self.request.POST)

    def _drop_half_signed_in(self):
        # Back to the password step: a locked e-mail must start again, and the password is refused.
        self.storage.reset()

    def post(self, *args, **kwargs):
        if self._posting_a_code() and not self.expired:
            credentials = self._second_factor_credentials()
            if credentials is not None and lockout.is_locked(self.request, credentials):
                # Locked (perhaps from another browser) after this password step passed: the code
                # is not even checked, or a lock could be walked around by keeping this page open.
                self.request.axes_locked_out = True
                refused = {**credentials, "refused_locked": True}
                user_login_failed.send(sender=__name__, credentials=refused, request=self.request)
                self._drop_half_signed_in()
                # AxesMiddleware turns this into the lockout page (it sees axes_locked_out).
                return HttpResponse(status=429)
        return super().post(*args, **kwargs)

    def done(self, form_list, **kwargs):
        response = super().done(form_list, **kwargs)
        record_sign_in(self.request.user, device=getattr(self.request.user, "otp_device", None))
        return response

    def render(self, form=None, **kwargs):
        if (form is not None and form.is_bound and form.errors and self.request.method == "POST"
                and self.steps.current in self.SECOND_FACTOR_STEPS and self._posting_a_code()):
            credentials = self._second_factor_credentials()
            if credentials is not None:
                # django-axes counts this exactly like a wrong password; accounts.audit_hooks audits it.
                user_login_failed.send(sender=__name__, credentials=credentials, request=self.request)
                if getattr(self.request, "axes_locked_out", False):
                    self._drop_half_signed_in()
                    return HttpResponse(status=429)  # replaced by the lockout page
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
    """A new clinic signs up: its first user becomes the owner and must confirm their e-mail.

    Whether or not the address already has an account, the answer is the same "check your
    inbox" page (the existing owner is e-mailed a notice instead). Nobody is signed in here:
    the confirmation link, opened in this same browser session, signs the new owner in.
    """

    template_name = "accounts/signup.html"
    form_class = SignupForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("dashboard")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            ratelimit.limit_signup(ratelimit.client_ip(self.request))
        except ratelimit.RateLimited as error:
            form.add_error(None, str(error))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        try:
            user = signup.sign_up(
                email=data["email"], password=data["password1"], full_name=data["full_name"],
                organization_name=data["organization_name"])
        except ValidationError as error:
            form.add_error("password1", error)
            return self.form_invalid(form)
        # A fresh session key for the visitor who now holds a pending sign-up.
        self.request.session.cycle_key()
        self.request.session[SESSION_SIGNUP_PENDING] = {
            "user_id": user.pk if user is not None else None, "email": canonical_email(data["email"])}
        return redirect("verify_email_sent")


def _pending_signup(request) -> dict | None:
    pending = request.session.get(SESSION_SIGNUP_PENDING)
    return pending if isinstance(pending, dict) else None


@never_cache
def verify_email(request, uidb64: str, token: str):
    """The link from the confirmation e-mail.

    Opened in the browser session that signed up, it also signs the new owner in (they typed
    their password moments ago in that session); anywhere else it leads to the sign-in page.
    """
    try:
        user = signup.verify_email(uidb64=uidb64, token=token)
    except signup.VerificationLinkInvalid as error:
        return render(request, "accounts/verify_email_failed.html", {"reason": str(error)}, status=400)
    messages.success(request, "Thank you: your e-mail address is confirmed.")
    if request.user.is_authenticated:
        return redirect("dashboard" if request.user.pk == user.pk else "login")
    pending = _pending_signup(request)
    if (pending and pending.get("user_id") == user.pk and user.is_active
            and not has_two_factor(user)):
        login(request, user, backend=MODEL_BACKEND)
        return redirect("dashboard")
    return redirect("login")


@never_cache
def verify_email_sent(request):
    """'Check your inbox': for a signed-in unconfirmed user, or the session that just signed up."""
    if request.user.is_authenticated:
        if request.user.email_verified_at is not None or not request.user.email_verification_required:
            return redirect("dashboard")
        return render(request, "accounts/verify_email_sent.html", {"email": request.user.email})
    pending = _pending_signup(request)
    if pending is None:
        return redirect_to_login(request.get_full_path())
    return render(request, "accounts/verify_email_sent.html", {"email": pending.get("email", "")})


def _resend_throttled(key: str) -> bool:
    # One e-mail a minute at most: the button cannot be used to flood a mailbox.
    return not ratelimit.add_once(f"accounts:resend-verification:{key}", timeout=60)


@require_POST
def resend_verification(request):
    """Send a new confirmation link (signed-in unconfirmed user, or the session that just signed up)."""
    user = request.user if request.user.is_authenticated else None
    if user is None:
        pending = _pending_signup(request)
        if pending is None:
            return redirect_to_login(reverse("verify_email_sent"))
        key = hashlib.sha256(str(pending.get("email", "")).encode()).hexdigest()
        throttled = _resend_throttled(key)
        # The same answer whether this sign-up made an account or found an existing one.
        if not throttled and pending.get("user_id"):
            user = User.objects.filter(pk=pending["user_id"], email_verified_at=None).first()
            if user is not None:
                signup.send_verification_email(user)
    elif user.email_verified_at is None:
        throttled = _resend_throttled(str(user.pk))
        if not throttled:
            signup.send_verification_email(user)
    else:
        return redirect("dashboard")
    if throttled:
        messages.warning(request, "We sent a link less than a minute ago. Check your inbox and spam folder.")
    else:
        messages.success(request, "We sent a new confirmation link. It replaces the earlier ones.")
    return redirect("verify_email_sent")


@require_POST
@login_required
def session_ping(request):
    """Keeps an active page's session alive: accounts-idle.js posts here when the person works
    (keys, clicks, touch) or presses "Stay signed in". A person's action, so it counts."""
    return HttpResponse(status=204)


@never_cache
@require_GET
def session_status(request):
    """How long until this session idles out (accounts-idle.js asks before warning and before
    signing out, so activity in another tab counts). Sent as a background request: asking does
    not extend the session."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False, "remaining_seconds": 0}, status=401)
    return JsonResponse({"signed_in": True, "remaining_seconds": idle_seconds_left(request),
                         "warn_seconds": settings.SESSION_IDLE_WARNING_SECONDS})
