"""The quality gate: every reason it gives, and the real pages it must let through."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from tracker.charset import decode_html
from tracker.document import Document
from tracker.fetch import FetchResult
from tracker.normalize import normalize_html, parse_markdown, parse_plain_text
from tracker.quality import (
    COLLAPSE_MIN_PREVIOUS,
    ERROR_MAX_WORDS,
    ERROR_TITLE_MAX_WORDS,
    MIN_WORDS,
    Verdict,
    assess,
)

_SENTENCE = ("We keep your account data for as long as your account is open and delete it "
             "within 30 days after you close it, unless the law requires us to keep it longer. ")


def policy_html(paragraphs: int = 12, extra: str = "", head: str = "") -> str:
    """A plausible privacy policy of about 32 words per paragraph."""
    body = "".join(f"<p>{_SENTENCE}</p>" for _ in range(paragraphs))
    return (f"<html><head><title>Privacy Policy</title>{head}</head><body><main>"
            f"<h1>Privacy Policy</h1>{body}{extra}</main></body></html>")


def result(body: bytes | str, status: int = 200, content_type: str = "text/html",
           charset: str | None = "utf-8", **fields: object) -> FetchResult:
    data = body.encode("utf-8") if isinstance(body, str) else body
    values: dict[str, object] = {
        "url": "https://example.com/privacy", "final_url": "https://example.com/privacy",
        "status": status, "headers": {}, "content_type": content_type, "charset": charset,
        "body": data, "fetched_at": datetime.now(UTC), "elapsed": 0.1,
    }
    values.update(fields)
    return FetchResult(**values)  # type: ignore[arg-type]


def judge(res: FetchResult, previous_words: int | None = None) -> Verdict:
    """Normalize like the pipeline does, then assess."""
    document = None
    if res.body and res.content_type in ("text/html", "application/xhtml+xml", ""):
        document = normalize_html(decode_html(res.body, res.charset))
    return assess(res, document, previous_words)


# --- pages that must pass --------------------------------------------------------------------


def test_real_policy_passes() -> None:
    assert judge(result(policy_html())) == Verdict(True, None)


def test_policy_mentioning_bot_protection_vendors_passes() -> None:
    mention = (
        "<h2>Security providers</h2><p>We use Cloudflare, Akamai and Imperva Incapsula to "
        "protect this site. Cloudflare may show a challenge page titled Just a moment... or "
        "Attention Required! | Cloudflare and ask you to verify you are human; we also use "
        "Google reCAPTCHA and hCaptcha, which may ask whether you are a robot. If you see "
        "Access Denied with a Reference # number, contact us. DataDome and PerimeterX (Press "
        "and Hold to confirm) also process your IP address. Performance and security by "
        "Cloudflare. Cloudflare Ray ID values are kept for 30 days.</p>"
    )
    assert judge(result(policy_html(12, extra=mention))).ok


def test_long_page_carrying_vendor_scripts_and_a_captcha_form_passes() -> None:
    """Normal pages behind Cloudflare/Incapsula embed their scripts; a contact form a captcha."""
    head = ("<script>window.__CF$cv$params={r:'8a1b',t:'MTcx'};var a=document.createElement("
            "'script');a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';</script>"
            "<script src='/_Incapsula_Resource?SWJIYLWA=719d34d31c8e3a6e6fffd425f7e032f3'>"
            "</script><script src='https://www.google.com/recaptcha/api.js'></script>")
    form = "<form><div class='g-recaptcha' data-sitekey='x'></div></form>"
    assert judge(result(policy_html(8, extra=form, head=head))).ok


def test_short_real_page_behind_cloudflare_is_not_a_wall() -> None:
    head = ("<script>window.__CF$cv$params={r:'8a1b'};a.src='/cdn-cgi/challenge-platform/"
            "scripts/jsd/main.js';</script>")
    verdict = judge(result(policy_html(2, head=head)))
    assert verdict.ok, verdict.reason


@pytest.mark.parametrize("content_type", ["text/plain", "text/markdown", "application/xhtml+xml"])
def test_text_types_are_accepted(content_type: str) -> None:
    text = "Privacy Policy\n\n" + _SENTENCE * 5
    parse = parse_markdown if content_type == "text/markdown" else parse_plain_text
    document = normalize_html(policy_html()) if "xhtml" in content_type else parse(text)
    body = policy_html() if "xhtml" in content_type else text
    assert assess(result(body, content_type=content_type), document, None).ok


def test_lying_charset_still_passes() -> None:
    """Latin-1 bytes labelled UTF-8: charset detection recovers the text."""
    body = policy_html(extra="<p>Données personnelles: café, résumé, naïve.</p>")
    res = result(body.encode("latin-1"), charset="utf-8")
    assert judge(res).ok


def test_document_none_counts_raw_text() -> None:
    assert assess(result(policy_html()), None, None).ok
    assert assess(result("<p>two words</p>"), None, None) == Verdict(False,
                                                                     "empty page (2 words)")


# --- errors and statuses ---------------------------------------------------------------------


def test_fetch_error_is_the_reason() -> None:
    res = result(b"", status=None, error="connection refused by example.com:443")
    assert assess(res, None, None) == Verdict(False,
                                              "fetch failed: connection refused by example.com:443")


def test_truncated_body() -> None:
    res = result(b"", error="truncated body: 4000 of 10000 bytes")
    verdict = assess(res, None, None)
    assert not verdict.ok and verdict.reason == "truncated body: 4000 of 10000 bytes"


@pytest.mark.parametrize("status", [404, 500, 503])
def test_non_2xx(status: int) -> None:
    assert judge(result(policy_html(), status=status)) == Verdict(False, f"HTTP {status}")


def test_429_reports_the_wait_asked_for() -> None:
    verdict = judge(result("slow down", status=429, content_type="text/plain", retry_after=3600))
    assert verdict == Verdict(False, "HTTP 429 (server asks to wait 3600 s)")


def test_not_modified() -> None:
    verdict = assess(result(b"", status=304, not_modified=True), None, None)
    assert not verdict.ok and "304" in (verdict.reason or "")


# --- payloads that are not pages -------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/pdf", "image/png",
                                          "application/octet-stream", "application/json"])
def test_not_html_content_types(content_type: str) -> None:
    verdict = judge(result(b"%PDF-1.7 ...", content_type=content_type))
    assert verdict == Verdict(False, f"not HTML: {content_type}")


def test_pdf_labelled_as_html_is_sniffed() -> None:
    verdict = judge(result(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", content_type="text/html"))
    assert verdict == Verdict(False, "not HTML: application/pdf (labelled text/html)")


def test_random_bytes_labelled_html() -> None:
    noise = random.Random(7).randbytes(20_000)
    assert judge(result(noise)) == Verdict(False, "binary or undecodable body")


def test_random_bytes_without_nul_are_undecodable() -> None:
    rng = random.Random(8)
    noise = bytes(rng.randrange(1, 256) for _ in range(20_000))
    assert judge(result(noise, charset=None)) == Verdict(False, "binary or undecodable body")


@pytest.mark.parametrize("extra", ["", "\u00e9"], ids=["ascii", "non-ascii"])
def test_control_characters_make_a_page_undecodable(extra: str) -> None:
    # Plain ASCII bytes (no NUL) that are mostly control characters: both counting paths.
    rng = random.Random(9)
    controls = "".join(chr(rng.choice([*range(1, 9), *range(14, 32), 127])) for _ in range(4000))
    body = f"<html><body><p>{extra}Privacy {controls}</p></body></html>".encode()
    assert judge(result(body)) == Verdict(False, "binary or undecodable body")
    assert judge(result(policy_html() + extra)).ok


def test_a_few_bad_bytes_are_not_garbage() -> None:
    body = policy_html().encode("utf-8").replace(b"account data", b"account \xff\xfe data", 2)
    assert judge(result(body)).ok


# --- empty, tiny, collapsed ------------------------------------------------------------------


def test_empty_body() -> None:
    assert judge(result(b"")) == Verdict(False, "empty page (0 words)")


def test_tiny_page_gives_word_count() -> None:
    twelve = "one two three four five six seven eight nine ten eleven twelve"
    verdict = judge(result(f"<html><body><main><p>{twelve}</p></main></body></html>"))
    assert verdict == Verdict(False, "empty page (12 words)")


def test_tiny_threshold_is_the_constant() -> None:
    words = " ".join(["word"] * MIN_WORDS)
    assert judge(result(f"<html><body><p>{words}</p></body></html>")).ok
    fewer = " ".join(["word"] * (MIN_WORDS - 1))
    assert not judge(result(f"<html><body><p>{fewer}</p></body></html>")).ok


def test_length_collapse() -> None:
    document = Document.from_text(" ".join(["word"] * 180))
    verdict = assess(result(policy_html()), document, 4200)
    assert verdict == Verdict(False, "length collapse: 180 words vs 4200 before")


def test_no_collapse_for_moderate_shrink_or_short_history() -> None:
    document = Document.from_text(" ".join(["word"] * 180))
    assert assess(result(policy_html()), document, COLLAPSE_MIN_PREVIOUS).ok
    assert assess(result(policy_html()), Document.from_text(" ".join(["w"] * 2000)), 4200).ok


# --- bot walls -------------------------------------------------------------------------------

CLOUDFLARE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="refresh" content="390"></head><body><div class="main-wrapper" role="main">
<div class="main-content"><h1 class="zone-name-title h1">example.com</h1>
<h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2>
<div id="challenge-stage"></div><div id="challenge-body-text" class="core-msg spacer">
example.com needs to review the security of your connection before proceeding.</div>
<noscript><div id="challenge-error-title">Enable JavaScript and cookies to continue</div>
</noscript></div></div><script>(function(){window._cf_chl_opt={cvId: '2',cZone:
'example.com',cType: 'managed'};var cpo = document.createElement('script');cpo.src =
'/cdn-cgi/challenge-platform/h/g/orchestrate/managed/v1?ray=7d1';})();</script>
<div class="footer" role="contentinfo"><div class="footer-inner"><div class="clearfix
diagnostic-wrapper"><div class="ray-id">Ray ID: <code>7d1</code></div></div>
<div class="text-center" id="footer-text">Performance &amp; security by Cloudflare</div>
</div></div></body></html>"""

CLOUDFLARE_BLOCK = """<html><head><title>Attention Required! | Cloudflare</title></head><body>
<div id="cf-wrapper"><div id="cf-error-details" class="cf-error-details-wrapper">
<h1>Sorry, you have been blocked</h1><h2>You are unable to access example.com</h2>
</div></div></body></html>"""

AKAMAI = """<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>
\nYou don't have permission to access "http&#58;&#47;&#47;www&#46;example&#46;com&#47;privacy"
on this server.<P>\nReference&#32;&#35;18&#46;6b2d2a17&#46;1700000000&#46;1f2e3d4c
<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;18&#46;6b2d2a17</P></BODY>\n</HTML>"""

INCAPSULA = """<html style="height:100%"><head><META NAME="ROBOTS" CONTENT="NOINDEX, NOFOLLOW">
<meta name="format-detection" content="telephone=no"></head><body style="margin:0px;
height:100%"><iframe id="main-iframe" src="/_Incapsula_Resource?CWUDNSAI=23&xinfo=8-1&incident_id=1"
frameborder=0 width="100%" height="100%">Request unsuccessful. Incapsula incident ID:
1234000050012345-67890</iframe></body></html>"""

PERIMETERX = """<html><head><title>Access to this page has been denied</title>
<script>window._pxAppId = 'PXabc123';</script></head><body><div id="px-captcha"></div>
<p>Press &amp; Hold to confirm you are a human (and not a bot).</p></body></html>"""

DATADOME = """<html><head><title>example.com</title></head><body><script>var dd={'rt':'c',
'cid':'AHrlqAAAAAMA','hsh':'2211F522','t':'fe','host':'geo.captcha-delivery.com'}</script>
<script src="https://ct.captcha-delivery.com/c.js"></script></body></html>"""

RECAPTCHA = """<html><head><title>Security check</title>
<script src="https://www.google.com/recaptcha/api.js"></script></head><body><main>
<p>Please verify you are human to continue.</p><form><div class="g-recaptcha"
data-sitekey="6Lc"></div></form></main></body></html>"""


@pytest.mark.parametrize(("page", "label"), [
    (CLOUDFLARE, "Cloudflare challenge"),
    (CLOUDFLARE_BLOCK, "Cloudflare challenge"),
    (AKAMAI, "Akamai access denied"),
    (INCAPSULA, "Incapsula"),
    (PERIMETERX, "PerimeterX"),
    (DATADOME, "DataDome"),
    (RECAPTCHA, "captcha"),
])
def test_bot_walls(page: str, label: str) -> None:
    assert judge(result(page)) == Verdict(False, f"bot wall ({label})")


def test_bot_wall_with_error_status_names_both() -> None:
    verdict = judge(result(CLOUDFLARE, status=403))
    assert verdict == Verdict(False, "bot wall (Cloudflare challenge) (HTTP 403)")


def test_cf_mitigated_header() -> None:
    page = "<html><body><p>" + "loading " * 40 + "</p></body></html>"
    res = result(page, headers={"cf-mitigated": "challenge"})
    assert judge(res) == Verdict(False, "bot wall (Cloudflare challenge)")
    assert judge(result(page)).ok


def test_wall_markers_ignored_on_long_pages() -> None:
    """The same challenge markup inside a long page is not a wall (the gate is word count)."""
    long_page = policy_html(12, extra="<p>Just a moment...</p>",
                            head="<script>window._cf_chl_opt={};</script>")
    assert judge(result(long_page)).ok


# --- login pages -----------------------------------------------------------------------------

LOGIN = """<html><head><title>Sign in</title></head><body><main><h1>Sign in to continue</h1>
<p>Use your company account to read this document.</p><form action="/session">
<input type="email" name="email"><input type="password" name="password">
<button>Sign in</button></form></main></body></html>"""


def test_login_page() -> None:
    assert judge(result(LOGIN)) == Verdict(False, "login page (password form, little text)")


def test_redirect_to_login_page() -> None:
    page = "<html><body><main><p>" + "Please sign in to view this page. " * 6 + "</p></main>"
    res = result(page, final_url="https://example.com/login?next=/privacy",
                 redirects=["https://example.com/privacy"])
    assert judge(res) == Verdict(False,
                                 "login page (redirected to https://example.com/login?next=/privacy)")


def test_policy_with_a_header_login_form_passes() -> None:
    form = "<form><input type='text' name='u'><input type='password' name='p'></form>"
    page = policy_html(8, extra=form)
    assert judge(result(page)).ok


@pytest.mark.parametrize("junk", ["<", "<script", "<input ", "class=\"", "<title>", "<a "])
def test_hostile_markup_is_assessed_quickly(junk: str) -> None:
    """256 KB of one unclosed token: every scan in the gate must stay linear (no hang)."""
    body = junk * (262_144 // len(junk))
    verdict = assess(result(body), None, None)
    assert verdict.ok == (verdict.reason is None)


def test_large_non_latin_page_is_not_garbage(caplog: pytest.LogCaptureFixture) -> None:
    """The gate scans the first 256 KB; it must not cut through a UTF-8 character (which
    sends the head through slow charset detection, logging "could not be decoded")."""
    sentence = "当社は、お客様の個人情報を十二か月間保管し、その後削除します。"
    for pad in range(3):  # move the cut across every byte of a 3-byte character
        body = ("<html><body><main>" + "x" * pad
                + f"<p>{sentence}</p>" * 8_000 + "</main></body></html>")
        document = Document.from_text(" ".join(["word"] * 500))
        verdict = assess(result(body), document, None)
        assert verdict.ok, (pad, verdict.reason)
    assert not [r for r in caplog.records if "could not be decoded" in r.getMessage()]


# --- error and maintenance pages served with HTTP 200 ------------------------------------------

# A firewall's block page that replaced a ~110-word policy (too short for the length-collapse
# check) and was recorded as a version with "material" findings.
ACCESS_DENIED = """<html><head><title>Access Denied</title></head><body><h1>Access Denied</h1>
<p>You don't have permission to access this page. Your request has been blocked by our security
service because it looked automated or came from a network we do not serve. If you believe this
is a mistake, please contact our support team and include the details below so that we can look
into it. Request ID: 8f3a-22-ab</p></body></html>"""

# A soft 404 and a maintenance notice, each recorded as a target's first version.
SOFT_404 = """<html><head><title>Page not found &ndash; Acme</title></head><body><main>
<h1>Oops! We can&rsquo;t find that page.</h1><p>The page you were looking for may have been
moved, renamed or deleted, or perhaps it never existed. Check the address for typos, or use the
search box above to find what you need. You can also go back to our home page or browse the most
popular articles from our help centre.</p></main></body></html>"""

MAINTENANCE = """<!doctype html><html><head><title>Site Maintenance</title></head><body>
<article><h1>We&rsquo;ll be back soon!</h1><div><p>Sorry for the inconvenience but we&rsquo;re
performing some maintenance at the moment. If you need to you can always contact us, otherwise
we&rsquo;ll be back online shortly! Our engineers are upgrading the servers that host this site,
and everything should be running again within the hour.</p><p>&mdash; The Acme Team</p></div>
</article></body></html>"""


def _words(page: str) -> int:
    return normalize_html(page).word_count()


def test_access_denied_page_replacing_a_short_policy_is_quarantined() -> None:
    assert 50 <= _words(ACCESS_DENIED) <= 70
    verdict = judge(result(ACCESS_DENIED), previous_words=110)
    assert verdict == Verdict(False, "error page (access denied)")


@pytest.mark.parametrize(("page", "reason"), [
    (SOFT_404, "error page (page not found)"),
    (MAINTENANCE, "maintenance page"),
])
def test_error_page_is_not_a_first_version(page: str, reason: str) -> None:
    assert 40 <= _words(page) <= 70
    assert judge(result(page)) == Verdict(False, reason)


def _short_page(title: str, heading: str, text: str) -> str:
    filler = ("Please try again in a few minutes, or contact our support team if the problem "
              "persists. We apologise for any inconvenience this may cause you today.")
    return (f"<html><head><title>{title}</title></head><body><main><h1>{heading}</h1>"
            f"<p>{text}</p><p>{filler}</p></main></body></html>")


@pytest.mark.parametrize(("title", "heading", "text", "reason"), [
    ("403 Forbidden", "Forbidden", "You are not allowed here.", "error page (access denied)"),
    ("Request Rejected", "Request Rejected",
     "The requested URL was rejected. Please consult with your administrator.",
     "error page (access denied)"),
    ("Acme", "Sorry, you have been blocked", "This website is using a security service.",
     "error page (access denied)"),
    ("404", "404", "Nothing to see at this address.", "error page (page not found)"),
    ("Acme Help", "Hmm.", "This page doesn\u2019t exist. It may have moved.",
     "error page (page not found)"),
    ("Acme", "Gone", "The page you requested is no longer available on this site.",
     "error page (page not found)"),
    ("Error 503", "Service Temporarily Unavailable", "The server is overloaded.",
     "error page (service unavailable)"),
    ("Acme", "Down for maintenance", "Our site is down for scheduled maintenance.",
     "maintenance page"),
    ("500 Internal Server Error", "Internal Server Error", "The server hit a snag.",
     "error page (server error)"),
    ("502 Bad Gateway", "Bad Gateway", "The upstream server did not answer.",
     "error page (server error)"),
    ("Acme", "Something went wrong", "We're working on it and we'll fix it as soon as we can.",
     "error page (server error)"),
    ("Application Error", "Error", "An unexpected error occurred.",
     "error page (server error)"),
])
def test_error_pages_served_with_200(title: str, heading: str, text: str, reason: str) -> None:
    assert judge(result(_short_page(title, heading, text))) == Verdict(False, reason)


def test_tiny_error_page_says_what_it_is() -> None:
    """nginx's bare "404 Not Found" served with 200: the error says more than "empty page"."""
    page = "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found" \
           "</h1></center><hr><center>nginx</center></body></html>"
    assert judge(result(page)) == Verdict(False, "error page (page not found)")


def test_plain_text_error_page() -> None:
    text = ("Service Unavailable\n\nThe server is temporarily unable to service your request "
            "due to maintenance downtime or capacity problems. Please try again later. " * 2)
    assert assess(result(text, content_type="text/plain"), parse_plain_text(text), None) == \
        Verdict(False, "error page (service unavailable)")
    assert assess(result(text, content_type="text/plain"), None, None) == \
        Verdict(False, "error page (service unavailable)")


def test_request_id_confirms_an_error_phrase_further_down() -> None:
    """Past the opening, an error phrase counts only with a request ID beside it."""
    opening = ("Thank you for visiting the Acme customer portal. We are glad to have you here "
               "and hope that you find everything you need. Our team works every day to make "
               "this service better for you and for everyone who relies on it, whether you "
               "are a customer, a partner or simply curious about what we do. ")
    message = "Unfortunately access denied for your network."
    page = _short_page("Acme portal", "Welcome", opening + message)
    assert judge(result(page)).ok
    with_id = _short_page("Acme portal", "Welcome", f"{opening}{message} Request ID: 7c1e-90af")
    assert judge(result(with_id)) == Verdict(False, "error page (access denied)")


def test_error_markers_count_only_on_short_pages() -> None:
    heading = "Page not found"
    text = " ".join(["word"] * (ERROR_MAX_WORDS - len(heading.split())))
    page = f"<html><body><main><h1>{heading}</h1><p>{text}</p></main></body></html>"
    assert _words(page) == ERROR_MAX_WORDS
    assert judge(result(page)) == Verdict(False, "error page (page not found)")
    assert judge(result(page.replace("<p>", "<p>more "))).ok


def test_a_soft_404_padded_by_its_site_template_is_known_by_its_title() -> None:
    padding = " ".join(["Explore our products, stories and offers for every season."] * 25)
    page = (f"<html><head><title>Page Not Found | Acme</title></head><body><main>"
            f"<h1>Sorry!</h1><p>{padding}</p></main></body></html>")
    assert ERROR_MAX_WORDS < _words(page) <= ERROR_TITLE_MAX_WORDS
    assert judge(result(page)) == Verdict(False, "error page (page not found)")
    # the same length with a policy's title and an error phrase in its text: a policy
    renamed = page.replace("Page Not Found | Acme", "Privacy | Acme").replace(
        "<h1>Sorry!</h1>", "<h1>Privacy</h1><p>If a page is not found we log the address.</p>")
    assert judge(result(renamed)).ok


LONG_POLICY_WITH_ERROR_WORDS = """<html><head><title>Privacy Policy | Acme</title></head><body>
<main><h1>Privacy Policy</h1><p>Last updated: 3 March 2024. This policy explains how Acme Ltd
collects, uses and shares personal data when you use our website and apps.</p>
<h2>Data we collect</h2><p>We collect the details you give us, such as your name, email address
and billing address, and technical data such as your IP address, browser type, the pages you
visit, the request ID and error code of any failed request, and the time of each visit.</p>
<h2>Security</h2><p>We protect your data with encryption in transit and at rest. Access to
production systems is limited to staff who need it; every attempt is logged, and an access
denied event is reviewed by our security team. If our service is temporarily unavailable or
you see an internal server error, your data stays safe and no request is lost.</p>
<h2>If a page is not found</h2><p>When you open an address that does not exist, we record the
address and the referring page in our error logs for 30 days so that we can fix broken links.
These logs do not contain your account details.</p>
<h2>Maintenance</h2><p>When the site is down for maintenance, a notice tells you we'll be back
soon. During maintenance windows we do not process new personal data.</p>
<h2>Sharing</h2><p>We share personal data with payment processors, hosting providers and email
services that act on our behalf under written contracts. We do not sell personal data, and we
do not share it for cross-context behavioural advertising.</p>
<h2>Cookies</h2><p>We use strictly necessary cookies to keep you signed in and, with your
consent, analytics cookies that tell us which pages are read. You can change your choice at any
time in the cookie settings at the bottom of every page.</p>
<h2>Children</h2><p>Our services are not directed to children under 16, and we do not knowingly
collect their personal data. If we learn that we have, we delete it.</p>
<h2>Retention</h2><p>We keep account data while your account is open and delete it within 30
days after you close it, unless the law requires us to keep it longer, for example invoices for
seven years.</p>
<h2>Your rights</h2><p>You may ask to access, correct, delete or port your data, and you may
object to processing or withdraw consent at any time. Write to privacy@acme.example; we answer
within one month. You may also complain to your data protection authority.</p>
<h2>Contact</h2><p>Acme Ltd, 1 High Street, London. Our data protection officer can be reached
at dpo@acme.example.</p></main></body></html>"""

TINY_APP_NOTICE = """<html><head><title>Privacy Policy - Pocket Timer</title></head><body>
<main><h1>Privacy Policy</h1><p>Pocket Timer is a simple countdown app made by one developer.
It does not collect, store or share any personal data. Your timers are saved only on your
device and are deleted when you remove the app. The app has no accounts, no analytics and no
advertising, and it never connects to the internet.</p><p>If this policy changes, the new
version will be posted on this page. Questions? Email hello@pockettimer.example.</p></main>
</body></html>"""


def test_long_policy_mentioning_errors_passes() -> None:
    assert 350 <= _words(LONG_POLICY_WITH_ERROR_WORDS) <= 450
    verdict = judge(result(LONG_POLICY_WITH_ERROR_WORDS), previous_words=400)
    assert verdict == Verdict(True, None)


def test_short_genuine_policy_passes() -> None:
    assert 60 <= _words(TINY_APP_NOTICE) <= ERROR_MAX_WORDS
    assert judge(result(TINY_APP_NOTICE), previous_words=90) == Verdict(True, None)
    assert assess(result(TINY_APP_NOTICE), None, None).ok


@pytest.mark.parametrize(("title", "heading", "text"), [
    ("Privacy Policy - 404 Media", "Privacy", "404 Media keeps your email address to send you "
     "our newsletter and deletes it when you unsubscribe."),
    ("Privacy", "Crash and error reports", "When the app crashes it sends an error report "
     "with the request ID 4f2a-77 and the app version, but never your notes."),
    ("Privacy", "Crash reports", "When an application error occurs, the app sends a crash "
     "report. If your deletion request is rejected, we explain why."),
    ("Privacy", "Your data", "We never sell your data. Access by our staff is logged and "
     "reviewed; you can find the full list of processors below."),
])
def test_short_policies_with_error_like_words_pass(title: str, heading: str, text: str) -> None:
    page = (f"<html><head><title>{title}</title></head><body><main><h1>{heading}</h1>"
            f"<p>{text}</p><p>{_SENTENCE}</p></main></body></html>")
    verdict = judge(result(page))
    assert verdict.ok, verdict.reason


@pytest.mark.parametrize("token", ["page-", "Request-ID:", "404-", "we'll-be-", "-", "&lt;"])
def test_short_page_of_hostile_text_is_assessed_quickly(token: str) -> None:
    """A few huge 'words' keep the page short enough for the error check; it must stay linear."""
    body = "<html><body><h1>" + token * (262_144 // len(token) // 2) + "</h1><p>x</p></body>"
    verdict = assess(result(body), None, None)
    assert verdict.ok == (verdict.reason is None)
