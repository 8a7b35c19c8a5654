from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from portal import (
    health,
    metrics,
    oauth,
    views,
    views_2fa,
    views_audit,
    views_consent,
    views_erasure,
    views_history,
)
from portal.api import docs

accounts = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("2fa/setup/", views_2fa.setup, name="2fa-setup"),
    path("2fa/verify/", views_2fa.verify, name="2fa-verify"),
    path("time-zone/", views_history.time_zone, name="time-zone"),
]

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.api_docs, name="api-docs"),
    path("redoc/", docs.api_redoc, name="api-redoc"),
    path("ledger/", include("ledger.api_urls")),
    path("", include("portal.api.urls")),
    path("lab/", include("lab.api_urls")),
    path("", include("imaging.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("consents/", views_consent.my_consents, name="consents"),
    path("consents/<uuid:series>/revoke/", views_consent.revoke, name="consent-revoke"),
    path("access-history/", views_history.access_history, name="access-history"),
    path("access-history/<uuid:pk>/receipt/", views_history.receipt_page, name="access-receipt"),
    path("access-history/<uuid:pk>/receipt.json", views_history.receipt_json, name="access-receipt-json"),
    path("patients/", views_consent.my_patients, name="my-patients"),
    path("breakglass/", views_consent.breakglass_start, name="breakglass-start"),
    path("breakglass/<uuid:patient_id>/", views_consent.breakglass, name="breakglass"),
    path("audit/breakglass/", views_consent.breakglass_queue, name="breakglass-queue"),
    path("audit/breakglass/<uuid:pk>/", views_audit.breakglass_review_page, name="breakglass-review"),
    path("audit/breakglass/<uuid:pk>/signoff/", views_consent.breakglass_signoff, name="breakglass-signoff"),
    # browsers ask for /favicon.ico on pages that name none (JSON, the admin): no 404 per page
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("img/favicon.svg"), permanent=True),
        name="favicon",
    ),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/live", health.live, name="healthz-live"),
    path("healthz/ready", health.ready, name="healthz-ready"),
    path("metrics", metrics.metrics, name="metrics"),
    # erasure by crypto-shredding (portal/views_erasure.py, imaging/erasure.py)
    path("erasure/", views_erasure.my_erasure, name="erasure"),
    path("erasure/<uuid:pk>/cancel/", views_erasure.cancel_erasure, name="erasure-cancel"),
    path("staff/erasures/", views_erasure.erasure_queue, name="erasure-queue"),
    path("staff/erasures/<uuid:pk>/decide/", views_erasure.erasure_decide, name="erasure-decide"),
    path("accounts/", include(accounts)),
    path("api/v1/", include(api_v1)),
    path("ledger/", include("ledger.urls")),
    path("scans/", include("imaging.urls")),
    path("dicomweb/", include("imaging.dicomweb.urls")),  # DICOMweb (PS3.18)
    path("lab/", include("lab.urls")),
    # OAuth 2.0 for third-party clients: token, revocation, introspection only (portal/oauth.py)
    path("o/", include((oauth.urlpatterns, "oauth2_provider"))),
    path("network/", include("federation.urls")),
    path("", include("federation.protocol_urls")),
    path("admin/", admin.site.urls),
]

handler400 = "portal.error_pages.bad_request"
handler403 = "portal.error_pages.permission_denied"
