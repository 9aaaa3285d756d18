"""django-two-factor-auth's URL names (namespace "two_factor"), served by our subclassed views.

The library's own templates and views reverse these names, so they keep working; its login
URL is not mounted (ours is /login/).
"""

from django.urls import path

from accounts.views import two_factor as views

app_name = "two_factor"

urlpatterns = [
    path("setup/", views.SetupView.as_view(), name="setup"),
    path("qrcode/", views.QRGeneratorView.as_view(), name="qr"),
    path("setup/complete/", views.SetupCompleteView.as_view(), name="setup_complete"),
    path("backup/tokens/", views.BackupTokensView.as_view(), name="backup_tokens"),
    path("", views.ProfileView.as_view(), name="profile"),
    path("disable/", views.DisableView.as_view(), name="disable"),
]
