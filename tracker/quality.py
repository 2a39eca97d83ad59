"""The quality gate: may this capture become a version, or is it a broken page?

Diffing a Cloudflare challenge against last week's policy would report the whole policy as
deleted. So before anything becomes a version, :func:`assess` looks for the usual impostors:
errors and non-2xx answers, non-HTML payloads, binary garbage, empty or tiny pages, bot walls
and challenge pages, login pages, error and maintenance pages served as HTTP 200, and a sudden
collapse in length. A suspect capture is still
stored (it is evidence) but quarantined; the verdict's ``reason`` is shown to users, so it says
plainly what was wrong.

Bot-wall markers are matched only on short pages: challenge pages are a few dozen words, while
a real policy that *mentions* Cloudflare, Akamai or captchas (as many do, listing processors)
is hundreds of words long and must pass. The same holds for error pages served with HTTP 200
(an "Access Denied" from a firewall, a soft 404, a maintenance notice): they are read from the
title, the top headings and the first lines of a short page only, so a policy with a section
"If a page is not found" passes, and so does a tiny app's genuine 80-word notice.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from .charset import decode_html
from .document import HEADING, Document
from .fetch import FetchResult

#: Fewer words than this is an "empty page" (a real policy is never this short).
MIN_WORDS = 30
#: A page is "collapsed" when it has fewer than this share of the previous version's words ...
COLLAPSE_RATIO = 0.35
#: ... and the previous version was long enough for the ratio to mean something.
COLLAPSE_MIN_PREVIOUS = 300
#: Challenge markers that only challenge pages carry count on pages up to this many words;
WALL_MAX_WORDS = 300
#: markers a real page may also carry (captcha widgets, vendor scripts) only up to this many.
WALL_WEAK_MAX_WORDS = 120
#: A password form on a page with fewer words than this is a login page, not a policy.
LOGIN_MAX_WORDS = 150
#: An error or maintenance page served with HTTP 200 has at most this many words ...
ERROR_MAX_WORDS = 150
#: ... unless a site template pads it: then its title alone can say so, up to this many.
ERROR_TITLE_MAX_WORDS = 300
#: Share of replacement/control characters above which a body is called undecodable.
UNDECODABLE_RATIO = 0.05

#: Content types that can hold a policy's text (others are refused before decoding).
TEXT_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain", "text/markdown",
                        "text/x-markdown"})

_SCAN_BYTES = 262_144  # markers live near the top of a page; bound the regex work
_SAMPLE_CHARS = 65_536
_OPENING_CHARS = 300  # "the first lines": error pages state their error up front
_OPENING_BLOCKS = 8  # top headings are h1/h2 among a short page's first blocks
_ERROR_SCAN_CHARS = 4_000  # where a request ID may confirm an error phrase further down
_ERROR_SCAN_BLOCKS = 64

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\xd0\xcf\x11\xe0", "application/msword"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_BAD_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_BAD_ASCII = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])  # _BAD_CHARS within ASCII
# Every pattern below stays linear on hostile markup (thousands of unclosed "<" or quotes):
# no unbounded repetition can run past the next "<".
_TAG = re.compile(r"<[^<>]*>")
_PASSWORD_INPUT = re.compile(r"<input\b[^<>]*\btype\s*=\s*[\"']?password\b", re.IGNORECASE)
_LOGIN_PATH = re.compile(
    r"/(?:log-?in|sign-?in|signon|sso|auth|authenticate|oauth2?/authorize|session/new|"
    r"accounts?/login|idp)(?:[/?.#]|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """Whether a capture may become a version; ``reason`` says why not, for users."""

    ok: bool
    reason: str | None = None


@dataclass(frozen=True)
class _Marker:
    label: str  # shown as "bot wall (<label>)"
    where: str  # "html" (raw markup), "text" (tags stripped), "title", "header"
    pattern: re.Pattern[str]
    max_words: int  # only pages shorter than this can be this wall


def _marker(label: str, where: str, pattern: str, strong: bool = True) -> _Marker:
    return _Marker(label, where, re.compile(pattern, re.IGNORECASE | re.DOTALL),
                   WALL_MAX_WORDS if strong else WALL_WEAK_MAX_WORDS)


_CF = "Cloudflare challenge"
_MARKERS: tuple[_Marker, ...] = (
    # Cloudflare: the challenge script/form ids are unique to challenge pages. (Ordinary pages
    # behind Cloudflare load /cdn-cgi/challenge-platform/scripts/jsd/, which is not matched.)
    _marker(_CF, "header", r"^cf-mitigated:\s*challenge"),
    _marker(_CF, "html", r"window\._cf_chl_opt|cf-chl-|cf_chl_|/cdn-cgi/challenge-platform/h/|"
                         r"id=[\"']challenge-(?:form|running|stage|body-text)[\"']|"
                         r"cf-browser-verification|cf-error-details"),
    _marker(_CF, "title", r"^\s*(?:just a moment\.*|attention required!? \| cloudflare|"
                          r"please wait\.*|one moment, please\.*)\s*$"),
    _marker(_CF, "text", r"checking (?:if the site connection is secure|your browser before "
                         r"accessing)|enable javascript and cookies to continue|"
                         r"performance (?:&|and) security by cloudflare|cloudflare ray id"),
    # Akamai's edge "Access Denied" page quotes a reference like "Reference #18.6b2d2a17...".
    _marker("Akamai access denied", "text",
            r"access denied.{0,300}?reference\s*#\s*\d+\.[0-9a-f]+\.\d+"),
    _marker("Akamai access denied", "html", r"errors\.edgesuite\.net"),
    # Incapsula (Imperva): the incident page; its resource iframe also appears on real pages.
    _marker("Incapsula", "text", r"incapsula incident id|request unsuccessful\. incapsula"),
    _marker("Incapsula", "html", r"_Incapsula_Resource", strong=False),
    _marker("Imperva/Distil", "title", r"^\s*pardon our interruption"),
    _marker("PerimeterX", "html", r"px-captcha|window\._pxAppId|px-cdn\.net|px-cloud\.net"),
    _marker("PerimeterX", "text", r"press (?:&|and) hold to confirm|"
                                  r"access to this page has been denied"),
    _marker("DataDome", "html", r"captcha-delivery\.com|js\.datadome\.co|\bvar dd\s*=\s*\{"),
    _marker("AWS WAF challenge", "html", r"awsWafCookieDomainList|AwsWafIntegration|"
                                         r"aws-waf-token|gokuProps"),
    _marker("Sucuri firewall", "text", r"sucuri website firewall"),
    _marker("DDoS-Guard", "title", r"ddos-guard"),
    _marker("Vercel security checkpoint", "title", r"vercel security checkpoint"),
    # Generic captchas: a real page may embed one (a contact form), so only on short pages.
    _marker("captcha", "html", r"class=[\"'][^\"'<>]{0,200}\b"
                               r"(?:g-recaptcha|h-captcha|cf-turnstile)\b|google\.com/recaptcha/api|hcaptcha\.com/1/api|"
                               r"challenges\.cloudflare\.com/turnstile", strong=False),
    _marker("captcha", "text", r"verify (?:that )?you are (?:a )?human|are you a robot|"
                               r"i'?m not a robot|unusual traffic from your computer network|"
                               r"complete the security check", strong=False),
)


def assess(result: FetchResult, document: Document | None,
           previous_words: int | None, words: int | None = None) -> Verdict:
    """Decide whether ``result`` (normalized as ``document``) may become a version.

    ``document`` may be None when the body was not (or could not be) normalized; the word
    count then comes from the raw text. ``previous_words`` is the last good version's count;
    ``words`` is ``document``'s own, when the caller has counted it already.
    """
    if result.error:
        if result.error.startswith("truncated body"):
            return Verdict(False, result.error)
        return Verdict(False, f"fetch failed: {result.error}")
    if result.not_modified:
        return Verdict(False, "not modified (HTTP 304): nothing new to store")
    if result.status is None:
        return Verdict(False, "no HTTP response")
    page = _Page(result, document, words)
    if not 200 <= result.status < 300:
        wall = _bot_wall(page) if page.is_text else None
        status = f"HTTP {result.status}"
        if wall:
            return Verdict(False, f"{wall} ({status})")
        if result.retry_after is not None:
            status += f" (server asks to wait {result.retry_after:.0f} s)"
        return Verdict(False, status)
    not_text = _not_text(result)
    if not_text:
        return Verdict(False, not_text)
    if not result.body.strip():
        return Verdict(False, "empty page (0 words)")
    if page.undecodable():
        return Verdict(False, "binary or undecodable body")
    wall = _bot_wall(page)
    if wall:
        return Verdict(False, wall)
    login = _login(page)
    if login:
        return Verdict(False, login)
    error = _error_page(page)
    if error:
        return Verdict(False, error)
    words = page.words
    if words < MIN_WORDS:
        return Verdict(False, f"empty page ({words} words)")
    if (previous_words is not None and previous_words > COLLAPSE_MIN_PREVIOUS
            and words < COLLAPSE_RATIO * previous_words):
        return Verdict(False, f"length collapse: {words} words vs {previous_words} before")
    return Verdict(True, None)


class _Page:
    """Lazily derived views of a capture (decoded text, title, word count), each made once."""

    def __init__(self, result: FetchResult, document: Document | None,
                 words: int | None = None) -> None:
        self.result = result
        self.document = document
        self.is_text = not _not_text(result)
        self._html: str | None = None
        self._text: str | None = None
        self._title: str | None = None
        self._words = words if document is not None else None

    @property
    def html(self) -> str:
        """The decoded head of the body (where challenge markup lives)."""
        if self._html is None:
            self._html = decode_html(_head(self.result.body), self.result.charset)
        return self._html

    @property
    def text(self) -> str:
        """Visible-ish text of the head of the body: tags and scripts stripped, entities read."""
        if self._text is None:
            stripped = _TAG.sub(" ", _strip_invisible(self.html))
            self._text = " ".join(html.unescape(stripped).split())
        return self._text

    @property
    def title(self) -> str:
        if self._title is None:
            self._title = _title(self.html)
        return self._title

    @property
    def words(self) -> int:
        if self._words is None:
            if self.document is not None:
                self._words = self.document.word_count()
            else:
                body = self.result.body
                text = self.text if len(body) <= _SCAN_BYTES else _rough_text(body, self.result)
                self._words = len(text.split())
        return self._words

    def undecodable(self) -> bool:
        """NUL bytes (outside UTF-16) or many replacement/control characters after decoding."""
        sample = self.result.body[:_SAMPLE_CHARS]
        if b"\x00" in sample and not sample.startswith(_BOMS[1:]):
            return True
        text = self.html[:_SAMPLE_CHARS]
        if not text:
            return False
        if text.isascii():  # the usual case: count in C instead of a regex scan (10x faster)
            data = text.encode("ascii")
            bad = len(data) - len(data.translate(None, _BAD_ASCII))
        else:
            bad = len(_BAD_CHARS.findall(text))
        return bad > UNDECODABLE_RATIO * len(text)


def _head(body: bytes) -> bytes:
    """The first ~256 KB, cut before a UTF-8 character rather than through one.

    A split character would make the UTF-8 decode fail and send the whole head through
    charset detection, which is slow and may pick a wrong codec for a perfectly good page.
    """
    if len(body) <= _SCAN_BYTES:
        return body
    cut = _SCAN_BYTES
    while cut > _SCAN_BYTES - 4 and 0x80 <= body[cut] < 0xC0:  # a continuation byte
        cut -= 1
    return body[:cut]


def _rough_text(body: bytes, result: FetchResult) -> str:
    decoded = decode_html(body, result.charset)
    return html.unescape(_TAG.sub(" ", _strip_invisible(decoded)))


_OPEN_INVISIBLE = re.compile(r"<(script|style|noscript|template)\b", re.IGNORECASE)
_CLOSE = {tag: re.compile(f"</{tag}[^<>]*>", re.IGNORECASE)
          for tag in ("script", "style", "noscript", "template", "title")}
_OPEN_TITLE = re.compile(r"<title\b[^<>]*>", re.IGNORECASE)


def _strip_invisible(markup: str) -> str:
    """Drop script/style/noscript/template contents (a forward scan, linear on any input)."""
    out: list[str] = []
    position = 0
    while True:
        opened = _OPEN_INVISIBLE.search(markup, position)
        if opened is None:
            out.append(markup[position:])
            return " ".join(out)
        out.append(markup[position:opened.start()])
        closed = _CLOSE[opened.group(1).lower()].search(markup, opened.end())
        if closed is None:
            return " ".join(out)
        position = closed.end()


def _title(markup: str) -> str:
    opened = _OPEN_TITLE.search(markup)
    closed = _CLOSE["title"].search(markup, opened.end()) if opened else None
    if opened is None or closed is None:
        return ""
    return " ".join(html.unescape(markup[opened.end():closed.start()]).split())


def _not_text(result: FetchResult) -> str | None:
    """A reason when the payload is not a text page: declared type first, then magic bytes."""
    declared = result.content_type
    if declared and declared not in TEXT_TYPES:
        return f"not HTML: {declared}"
    head = result.body[:16]
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return f"not HTML: {mime}" + (f" (labelled {declared})" if declared else "")
    return None


def _bot_wall(page: _Page) -> str | None:
    words = page.words
    headers = page.result.headers
    for marker in _MARKERS:
        if words >= marker.max_words:
            continue
        if marker.where == "header":
            found = any(marker.pattern.search(f"{name}: {value}")
                        for name, value in headers.items())
        elif marker.where == "html":
            found = marker.pattern.search(page.html) is not None
        elif marker.where == "title":
            found = marker.pattern.search(page.title) is not None
        else:
            found = marker.pattern.search(page.text) is not None
        if found:
            return f"bot wall ({marker.label})"
    return None


def _login(page: _Page) -> str | None:
    if page.words >= LOGIN_MAX_WORDS:
        return None
    if _PASSWORD_INPUT.search(page.html):
        return "login page (password form, little text)"
    result = page.result
    if result.redirects and _LOGIN_PATH.search(result.final_url.split("//", 1)[-1]):
        return f"login page (redirected to {result.final_url})"
    return None


# Error pages served with HTTP 200. Each kind has phrases that say it in running text, matched
# on the title, the top headings and the opening, and bare headings ("404", "Forbidden") that
# say it only as a heading. Kinds are tried in order: a maintenance notice often also says
# "service unavailable". The texts are tag-free and single-spaced, and every repetition is
# bounded, so these stay linear too.
_A = "['\u2019]"  # an apostrophe, straight or typographic
_ERR = r"\b(?:error|http|status)\W{0,3}"  # "Error 404", "HTTP 503", "Status: 500"


@dataclass(frozen=True)
class _ErrorKind:
    reason: str
    phrase: re.Pattern[str]  # anywhere in the title, a top heading or the opening
    heading: re.Pattern[str]  # a whole title or top heading


def _error_kind(reason: str, phrase: str, heading: str) -> _ErrorKind:
    flags = re.IGNORECASE
    return _ErrorKind(reason, re.compile(phrase, flags),
                      re.compile(rf"^\W{{0,8}}(?:{heading})\W{{0,8}}$", flags))


_ERROR_KINDS: tuple[_ErrorKind, ...] = (
    _error_kind(
        "maintenance page",
        r"\b(?:under|down for|undergoing|closed for) (?:scheduled |planned |routine )?"
        r"maintenance\b|\bmaintenance (?:mode|in progress)\b|"
        rf"\bwe(?:{_A}ll| will) be (?:right )?back\b|\bbe back (?:soon|shortly)\b",
        r"(?:web)?site maintenance"),
    _error_kind(
        "error page (access denied)",
        r"\baccess (?:is |was |has been )?denied\b|\b403\W{0,3}forbidden\b|"
        rf"{_ERR}40[13]\b|\byou (?:do not|don{_A}t) have (?:the )?permission to (?:access|view)\b|"
        r"\brequest (?:has been |was )?blocked\b|\brequest rejected\b|"
        rf"\bthe requested url was rejected\b|\byou(?: have|{_A}ve) been blocked\b",
        r"(?:error )?(?:401|403|forbidden|unauthori[sz]ed)"),
    _error_kind(
        "error page (page not found)",
        rf"\b(?:page|file|url|resource|document|article|link)\b[^.!?]{{0,60}}?\b(?:not|n{_A}t) "
        rf"(?:be )?found\b|\b404\W{{0,3}}(?:error|not found|page)\b|{_ERR}(?:404|410)\b|"
        rf"\b(?:can{_A}?t|cannot|could ?n{_A}?t|could not|unable to) (?:seem to )?find "
        r"(?:the |that |this )?page\b|"
        rf"\bpage\b[^.!?]{{0,60}}?\b(?:does not|doesn{_A}t|did not|no longer) exists?\b|"
        r"\b(?:page|content|document|article|resource|link|url|file)\b[^.!?]{0,60}?"
        r"\b(?:is|was|has been) no longer available\b|\b410\W{0,3}gone\b",
        r"(?:error )?(?:404|410)|(?:page |file )?not found|(?:page |content )?no longer available"),
    _error_kind(
        "error page (service unavailable)",
        r"\bservice (?:is )?(?:temporarily )?unavailable\b|\btemporarily unavailable\b|"
        rf"\b503\W{{0,3}}(?:error|service)\b|{_ERR}503\b",
        r"(?:error )?503"),
    _error_kind(
        "error page (server error)",
        rf"\binternal server error\b|\bbad gateway\b|\bgateway time-?out\b|{_ERR}5\d\d\b|"
        r"\b5\d\d\W{0,3}(?:error|internal|bad gateway|gateway)\b|\bsomething went wrong\b|"
        r"\ban? (?:unexpected |internal |unknown )?error has occurred\b|"
        r"\ban unexpected error occurred\b",
        r"(?:error )?5\d\d|(?:server |application )?error|oops!?"),
)
#: "Request ID: 8f3a-22-ab", "Your support ID is: 1234": proves nothing alone (a policy may say
#: it logs request IDs), but confirms an error phrase further down a short page.
_REQUEST_ID = re.compile(
    r"\b(?:request|reference|incident|support|trace|correlation|transaction|event|error)"
    r"[ _-]?(?:id|ref|code|number|no\.?|#)(?: is)?\W{0,3}(?=[\w.:-]{0,40}\d)[\w.:-]{4,80}",
    re.IGNORECASE)


def _error_page(page: _Page) -> str | None:
    """An error or maintenance page served with HTTP 200: a reason for users, or None."""
    if page.words > ERROR_TITLE_MAX_WORDS:
        return None
    document = page.document
    if page.words > ERROR_MAX_WORDS:  # a soft 404 in a wordy template: trust only its title
        title = (document.title if document is not None else "") or page.title
        title = title[:_OPENING_CHARS]
        for kind in _ERROR_KINDS:
            if title and (kind.heading.search(title) or kind.phrase.search(title)):
                return kind.reason
        return None
    if document is not None:  # the normalized page: site navigation is already gone
        blocks = document.blocks[:_OPENING_BLOCKS]
        title = document.title or page.title
        headings = [b.text[:_OPENING_CHARS] for b in blocks if b.kind == HEADING and b.level <= 2]
        text = " ".join(b.text for b in document.blocks[:_ERROR_SCAN_BLOCKS])[:_ERROR_SCAN_CHARS]
    else:
        title, headings, text = page.title, [], page.text[:_ERROR_SCAN_CHARS]
    tops = [t for t in (title[:_OPENING_CHARS], *headings) if t]
    opening = text[:_OPENING_CHARS]
    for kind in _ERROR_KINDS:
        if any(kind.heading.search(top) or kind.phrase.search(top) for top in tops):
            return kind.reason
        if kind.phrase.search(opening):
            return kind.reason
    if _REQUEST_ID.search(text):
        for kind in _ERROR_KINDS:
            if kind.phrase.search(text):
                return kind.reason
    return None
