"""Renderers of the API: JSON, and DRF's browsable HTML pages under a policy that fits them.

DRF's browsable API page (what a browser gets for an API URL, e.g. a patient following a
ledger receipt link) has an inline <style> block and style attributes in DRF's own templates,
so these pages alone allow inline styles. Its scripts all load from /static/: script-src
stays 'self'.
"""

from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src": ["'unsafe-inline'"]}  # read by django-csp's middleware
        return super().render(data, accepted_media_type, renderer_context)
