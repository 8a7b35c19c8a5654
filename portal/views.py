from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone

from portal import home_selectors
from portal.client_ip import client_ip
from portal.throttle import throttle_allow

HOUR = 3600


@login_required
def home(request):
    """Each role's starting point: what needs attention first, then the links."""
    user = request.user
    ctx: dict = {"role": user.role}
    if user.is_patient:
        ctx.update(home_selectors.patient_home(user, zone=timezone.get_current_timezone()))
    elif user.is_clinician:
        from imaging.dimse.selectors import pending_count

        ctx.update(home_selectors.clinician_home(user))
        ctx["reconcile"] = pending_count(organisation_id=user.organisation_id)
    elif user.is_auditor:
        ctx.update(home_selectors.auditor_home())
    return render(request, "portal/home.html", ctx)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset view, with the mail throttled per client address (a clear 429) and per
    target address (silently: the page is the same whether or not a mail went out, and
    whether or not the account exists)."""

    def form_valid(self, form):
        address = client_ip(self.request) or "unknown"
        if not throttle_allow(
            scope="reset-address", ident=address, limit=settings.QMC_RESET_PER_ADDRESS, window=HOUR
        ):
            form.add_error(None, "Too many reset requests from your network. Try again in an hour.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        email = form.cleaned_data["email"].strip().lower()
        if not throttle_allow(
            scope="reset-account", ident=email, limit=settings.QMC_RESET_PER_ACCOUNT, window=HOUR
        ):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)
