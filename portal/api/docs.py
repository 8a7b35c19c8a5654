"""The API docs pages, Swagger UI (/api/v1/docs/) and Redoc (/api/v1/redoc/), each under a
Content-Security-Policy of its own. Both work offline: their files are our own static files
(drf-spectacular-sidecar), nothing comes from a CDN.

The split view loads its start-up script from a URL instead of an inline <script>.
drf-spectacular's Swagger page has an inline <style> block and Redoc writes its styles into
<style> elements, so these pages alone allow inline styles (never inline scripts). Redoc runs
its search index in a worker it makes from a blob: URL of its own script.
"""

from csp.decorators import csp_update
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

api_docs = csp_update({"style-src": ["'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(url_name="schema")
)

api_redoc = csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]})(
    SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")
)
