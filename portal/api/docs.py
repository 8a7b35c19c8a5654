"""The API docs page (Swagger UI), under a Content-Security-Policy of its own.

The split view loads its start-up script from a URL instead of an inline <script>, and Swagger
UI's files are our own static files (drf-spectacular-sidecar). drf-spectacular's page template
has an inline <style> block, so this page alone allows inline styles (never inline scripts).
"""

from csp.decorators import csp_update
from drf_spectacular.views import SpectacularSwaggerSplitView

api_docs = csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="schema"))
