"""Browser end-to-end fixtures: Debian's Chromium driven by Playwright (sync API) against
pytest-django's live server (transactional, same test database as the real Celery worker).

- `browser`: one headless Chromium for the session (`/usr/bin/chromium`, or $QMC_CHROMIUM).
- `new_page(width=..., height=...)`: a fresh context (own cookies) and page, closed after the test.
- `shot(page, journey, step)`: screenshot to artifacts/e2e/<journey>-<step>.png.
- `login_form(page, user)`: log in through the login form (and type the TOTP code for users
  with a confirmed device); `login_cookie(page, user)`: set a verified session cookie (setup only).
- `axe_js`: path of axe-core's axe.min.js. Installed on first use from the npm registry into
  tests/e2e/vendor/ (git-ignored) if `npm` is there; None if it cannot be had, and the
  accessibility test then runs only the documented subset check (see a11y.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
VENDOR = Path(__file__).resolve().parent / "vendor"
AXE_VERSION = "4.14.1"
AXE_JS = VENDOR / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("QMC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery-staple"  # tests.factories.PASSWORD


def pytest_collection_modifyitems(items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="package")
def browser():
    """Package scope: Playwright (and its event loop in the main thread) stops after tests/e2e,
    so the rest of the suite runs with Django's async-safety check as usual."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium` (see .ci/run)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in the main thread; Django's ORM calls
    # from the test body (factories, services) would otherwise raise SynchronousOnlyOperation.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield b
            b.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


# every Content-Security-Policy violation on one of our HTML pages is written to the console,
# where new_page collects it (a JSON response opened in the browser is left out: Chromium's own
# JSON viewer adds an inline style that the policy refuses, which is harmless)
_REPORT_CSP_VIOLATIONS = """document.addEventListener("securitypolicyviolation", e => {
  if (document.contentType === "text/html")
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} on ${location.pathname}`);
});"""


@pytest.fixture
def new_page(browser, live_server):
    contexts = []
    csp_violations: list[str] = []

    def make(width: int = 1280, height: int = 900):
        ctx = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
        ctx.set_default_timeout(15_000)
        ctx.add_init_script(_REPORT_CSP_VIOLATIONS)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on(
            "console",
            lambda m: csp_violations.append(m.text) if m.text.startswith("CSP violation") else None,
        )
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not csp_violations, f"the pages broke their Content-Security-Policy: {csp_violations}"
    # the pages' requests recorded ledger events: if the session's worker is up, let it
    # append them (delayed task) before the transactional flush, which would deadlock with it
    from tests.imaging.conftest import _worker_busy, drain_worker

    if _worker_busy() is not None:
        drain_worker(scans=False)


def shot(page, journey: str, step: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{journey}-{step}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def totp_now(user) -> str:
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    d = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(d.bin_key, step=d.step, t0=d.t0, digits=d.digits):0{d.digits}d}"


def enrol_totp(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def login_form(page, user, *, journey: str | None = None, password: str = PASSWORD) -> None:
    """Log in like a person: the login form, then (if enrolled) the 6-digit code."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    if journey:
        shot(page, journey, "login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if "/accounts/2fa/verify/" in page.url:
        page.get_by_role("heading", name="Enter your second factor").wait_for()
        page.get_by_label("6-digit code from your authenticator app").fill(totp_now(user))
        if journey:
            shot(page, journey, "totp")
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()
    assert "/accounts/" not in page.url, f"still on {page.url}: {page.inner_text('main')}"


def login_cookie(page, user, base_url: str) -> None:
    """Setup shortcut: a logged-in, second-factor-verified session cookie (no form)."""
    from django.conf import settings
    from django.test import Client

    from tests.factories import login_verified

    client = login_verified(Client(), user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}])


@pytest.fixture
def worker(celery_worker):
    """The real worker; at teardown wait until it has nothing left for this test (pipeline,
    ledger appends) so the transactional flush does not race a running task."""
    from tests.imaging.conftest import drain_worker

    yield celery_worker
    drain_worker()


@pytest.fixture(scope="session")
def axe_js() -> Path | None:
    if AXE_JS.exists():
        return AXE_JS
    npm = shutil.which("npm")
    if npm is None:
        return None
    VENDOR.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(VENDOR),
                "--no-save",
                "--no-audit",
                "--no-fund",
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return AXE_JS if AXE_JS.exists() else None
