from django.urls import include, path

from accounts.views import account, auth, invitations, members, organization, password_reset, platform

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("signup/", auth.SignupView.as_view(), name="signup"),
    path("verify-email/", auth.verify_email_sent, name="verify_email_sent"),
    path("verify-email/resend/", auth.resend_verification, name="resend_verification"),
    path("verify-email/<str:uidb64>/<str:token>/", auth.verify_email, name="verify_email"),
    path("session/ping/", auth.session_ping, name="session_ping"),
    path("session/status/", auth.session_status, name="session_status"),
    path("password/reset/", password_reset.request_reset, name="password_reset"),
    path("password/reset/sent/", password_reset.reset_requested, name="password_reset_done"),
    path("password/reset/complete/", password_reset.reset_complete, name="password_reset_complete"),
    path("password/reset/<str:uidb64>/<str:token>/", password_reset.ResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("platform-view/", platform.platform_view, name="platform_view"),
    path("org/switch/", organization.switch_organization, name="switch_organization"),
    path("org/settings/", organization.organization_settings, name="organization_settings"),
    path("org/members/", members.members, name="members"),
    path("org/members/invite/", members.invite, name="invite_member"),
    path("org/members/<int:membership_id>/role/", members.change_role, name="change_role"),
    path("org/members/<int:membership_id>/remove/", members.remove_member, name="remove_member"),
    path("org/members/<int:membership_id>/unlock/", members.unlock_member, name="unlock_member"),
    path("org/invitations/<int:invitation_id>/revoke/", members.revoke_invitation, name="revoke_invitation"),
    path("invitations/<str:token>/", invitations.accept, name="accept_invitation"),
    path("account/password/", account.PasswordChangeView.as_view(), name="password_change"),
    path("account/sign-out-everywhere/", account.sign_out_everywhere, name="sign_out_everywhere"),
    path("account/two_factor/", include("accounts.two_factor_urls")),
]
