"""Synthetic privacy-policy pages for benchmarks/check_cycle.py.

Each page is ~40 KB of HTML with realistic chrome (head scripts and stylesheets with cache
busters, a nav bar of ~40 links carrying a session id, a cookie-consent banner, a promo, a big
footer, analytics scripts) around a policy of ~20 sections whose text differs per page: company
and product names, the choice and order of sections, list items, a retention table, contact
details and retention periods all come from a per-page seed.

A page is built once per *version* as a template with placeholders for the per-request parts;
:func:`render` fills them with fresh tokens, so every cycle serves new session ids (and, on
half the pages, a visible consent id in the cookie banner, which the tracker must ignore) while
the policy text stays identical. Version 2 changes exactly one clause per page: the server-log
retention period ``12 months`` -> ``18 months``.
"""

from __future__ import annotations

import os
import random
import secrets
from pathlib import Path

CHANGED_FROM = "12 months"
CHANGED_TO = "18 months"
TARGET_BYTES = 40_000

_PREFIX = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay",
           "Soylent", "Tyrell", "Cyberdyne", "Aperture", "Massive", "Wonka", "Oscorp",
           "Gringotts", "Monarch", "Nakatomi", "Pied Piper", "Blue Sun", "Zorg", "Dunder",
           "Sterling", "Prestige", "Bluth", "Kramerica", "Oceanic", "Dharma", "Virtucon", "Nimbus"]
_SUFFIX = ["Labs", "Systems", "Media", "Health", "Notes", "Cloud", "Mobility", "Games",
           "Analytics", "Bank", "Travel", "Foods", "Learning", "Social", "Energy", "Retail"]
_PRODUCT = ["app", "platform", "website", "service", "marketplace", "assistant", "studio",
            "wallet", "player", "tracker"]
_CITY = [("Dublin", "Ireland"), ("Berlin", "Germany"), ("Paris", "France"),
         ("Amsterdam", "the Netherlands"), ("San Francisco", "United States"),
         ("Austin", "United States"), ("Toronto", "Canada"), ("London", "United Kingdom"),
         ("Stockholm", "Sweden"), ("Madrid", "Spain"), ("Warsaw", "Poland"),
         ("Singapore", "Singapore")]
_DATA = ["your name and display name", "your email address", "your phone number",
         "your postal address", "your date of birth", "payment card details (processed by our "
         "payment provider)", "your IP address", "device identifiers such as advertising IDs",
         "browser type and version", "operating system and language settings",
         "approximate location derived from your IP address", "precise location if you allow it",
         "photos and files you upload", "messages you send to other users",
         "your contacts if you choose to sync them", "purchase and order history",
         "pages you visit and features you use", "search queries within the service",
         "crash reports and performance logs", "survey responses and feedback",
         "voice recordings when you use voice features", "fitness and activity data",
         "information from social networks you connect", "referral and campaign information"]
_PURPOSES = ["to provide, operate and maintain the service", "to create and secure your account",
             "to process payments and prevent fraud", "to personalize content and "
             "recommendations", "to send service and security messages",
             "to send marketing messages where you have agreed", "to measure and improve "
             "performance", "to develop new features", "to comply with legal obligations",
             "to enforce our terms and protect our users", "to provide customer support",
             "to conduct research and analytics in aggregated form"]
_RECIPIENTS = ["cloud hosting providers", "payment processors", "customer support tools",
               "analytics providers", "email delivery services", "fraud prevention services",
               "professional advisers such as lawyers and auditors", "law enforcement when "
               "required by law", "a buyer in the event of a merger or acquisition",
               "advertising partners, only in aggregated or de-identified form"]
_RIGHTS = ["access the personal information we hold about you", "correct inaccurate "
           "information", "delete your personal information", "export your data in a portable "
           "format", "object to processing based on legitimate interests", "restrict processing",
           "withdraw consent at any time", "lodge a complaint with a supervisory authority",
           "opt out of targeted advertising", "appeal a decision we made about your request"]
_CATEGORIES = ["Account data", "Payment records", "Support tickets", "Marketing preferences",
               "Usage analytics", "Backups", "Security logs", "Uploaded content",
               "Location history", "Device information"]
_FILLER = [
    "We designed {product} so that you stay in control of the information you share with us.",
    "Where we rely on legitimate interests, we balance them against your rights and freedoms.",
    "Some features are optional, and we only collect the related information when you use them.",
    "We review this practice regularly and update it when our services or the law change.",
    "Information that no longer identifies you may be kept for statistics and research.",
    "If you have questions about this section, our privacy team is happy to help.",
    "{company} requires its service providers to protect information with appropriate "
    "technical and organisational measures.",
    "We apply the principle of data minimisation and collect only what we need for each "
    "purpose described in this policy.",
    "Access to this information is limited to employees and contractors who need it to "
    "perform their job, and every access is logged.",
    "When the law of your country gives you additional protections, we honour them as well.",
    "We do not use this information to make decisions that produce legal effects about you "
    "solely by automated means.",
    "You can find more detail about these choices in the settings of your {product} account.",
    "We keep a record of the choices you make so that we can respect them on every device.",
    "Teams at {company} receive privacy training when they join and every year afterwards.",
    "Our data protection officer oversees how this section is applied across {company}.",
    "Aggregated statistics cannot be used to identify you and are not covered by this section.",
    "We ask for your consent again if we want to use this information for a new purpose.",
    "Where required, we carry out a data protection impact assessment before we start.",
    "Service providers may only process this information on our documented instructions.",
    "You may change your mind at any time, and doing so does not affect earlier processing.",
    "If you do not provide this information, some parts of {product} may not work as intended.",
    "We regularly test our systems for vulnerabilities and fix the issues we find.",
    "Information about your use of {product} on one device may be linked to other devices "
    "where you are signed in.",
    "When we combine information from different sources, we apply the same safeguards to the "
    "result.",
    "Requests made through an authorised agent require proof that the agent may act for you.",
    "We will not discriminate against you for exercising any of the rights in this policy.",
    "In some cases we may need to verify your identity before we can act on your request.",
    "Certain information may be retained longer where we are required to do so by law or to "
    "resolve disputes.",
]


def _company(rng: random.Random, i: int) -> tuple[str, str]:
    name = f"{rng.choice(_PREFIX)} {rng.choice(_SUFFIX)}"
    if i >= len(_PREFIX) * len(_SUFFIX):
        name += f" {i}"
    return name, f"{name} {rng.choice(_PRODUCT)}"


def _para(rng: random.Random, company: str, product: str, lead: str, n: int = 5) -> str:
    sentences = [lead] + [s.format(company=company, product=product)
                          for s in rng.sample(_FILLER, n)]
    return "<p>" + " ".join(sentences) + "</p>\n"


def _ul(rng: random.Random, pool: list[str], k: int) -> str:
    items = rng.sample(pool, min(k, len(pool)))
    return "<ul>\n" + "".join(f"  <li>{item[0].upper() + item[1:]}.</li>\n" for item in items) \
        + "</ul>\n"


def _policy(i: int, version: int) -> tuple[str, str]:
    """(title, main HTML) of page ``i`` at ``version`` (1 or 2)."""
    rng = random.Random(i * 7919 + 17)
    company, product = _company(rng, i)
    city, country = rng.choice(_CITY)
    slug = company.lower().replace(" ", "")
    year = rng.choice([2022, 2023, 2024])
    month = rng.choice(["January", "March", "April", "June", "September", "November"])
    day = rng.randint(1, 28)
    changed = CHANGED_FROM if version == 1 else CHANGED_TO
    c, p = company, product
    sections: list[tuple[str, str]] = []

    def sec(title: str, body: str) -> None:
        sections.append((title, body))

    sec("Who we are", _para(rng, c, p, f"{c} Ltd., {rng.randint(1, 400)} Market Street, "
        f"{city}, {country}, is the controller of your personal information for {p}."))
    sec("Information we collect", _para(rng, c, p, "We collect the following information "
        "when you create an account or use the service:") + _ul(rng, _DATA, rng.randint(8, 14))
        + _para(rng, c, p, "We also receive information automatically from your device:")
        + _ul(rng, _DATA, rng.randint(5, 9)))
    sec("How we use information", _para(rng, c, p, "We use personal information for these "
        "purposes:") + _ul(rng, _PURPOSES, rng.randint(6, 10)))
    sec("Legal bases", "".join(_para(rng, c, p, f"For {purpose}, we rely on "
        f"{rng.choice(['contract', 'consent', 'legitimate interests', 'legal obligation'])}.")
        for purpose in rng.sample(_PURPOSES, 4)))
    sec("Sharing and disclosure", _para(rng, c, p, "We share personal information with:")
        + _ul(rng, _RECIPIENTS, rng.randint(5, 8))
        + f"<p>{c} does not sell your personal information"
          f"{rng.choice(['.', ' and does not share it for cross-context behavioral advertising.'])}"
          "</p>\n")
    rows = "".join(
        f"  <tr><td>{cat}</td><td>{rng.choice([3, 6, 24, 36])} months</td>"
        f"<td>{rng.choice(['deleted', 'anonymised', 'archived then deleted'])}</td></tr>\n"
        for cat in rng.sample(_CATEGORIES, rng.randint(5, 8)))
    sec("How long we keep data", f"<p>We retain server logs for {changed}. We keep account "
        f"information for as long as your account is active and delete it within "
        f"{rng.choice([30, 60, 90])} days after you close your account.</p>\n"
        "<table>\n  <tr><th>Category</th><th>Retention</th><th>Afterwards</th></tr>\n"
        + rows + "</table>\n" + _para(rng, c, p, "Backups are overwritten on a rolling "
        "schedule."))
    sec("International transfers", _para(rng, c, p, f"We store data in {country} and may "
        "transfer it to other countries under standard contractual clauses."))
    sec("Your rights", _para(rng, c, p, "Depending on where you live, you have the right to:")
        + _ul(rng, _RIGHTS, rng.randint(5, 9)) + _para(rng, c, p, "We answer requests within "
        f"{rng.choice([30, 45])} days."))
    sec("Cookies and similar technologies", _para(rng, c, p, "We use cookies that are "
        "strictly necessary, and with your consent analytics and advertising cookies.", 5))
    sec("Security", _para(rng, c, p, "We encrypt data in transit and at rest.", 5))
    sec("Children", f"<p>{p} is not directed to children under "
        f"{rng.choice([13, 14, 16])}, and we do not knowingly collect their personal "
        "information.</p>\n")
    sec("Automated decision-making", _para(rng, c, p, "We use automated systems to detect "
        "spam and abuse.", 4))
    for k in range(rng.randint(2, 4)):
        region = rng.choice(["California", "EEA", "UK", "Brazil", "Canada", "Virginia"])
        sec(f"Additional information for {region} residents ({k + 1})",
            _para(rng, c, p, "Residents of some regions have additional rights.", 6)
            + _ul(rng, _RIGHTS, 4))
    sec("Changes to this policy", _para(rng, c, p, f"We will notify you at least "
        f"{rng.choice([14, 30])} days before a material change takes effect."))
    sec("Contact us", f"<p>Write to privacy@{slug}.example or to our data protection officer "
        f"at dpo@{slug}.example, {city}.</p>\n")
    fixed, movable = sections[:2], sections[2:-2]
    rng.shuffle(movable)
    sections = fixed + movable + sections[-2:]
    body = [f"<h1>{c} Privacy Policy</h1>\n",
            f"<p>Effective date: {month} {day}, {year}</p>\n"]
    for n, (title, html) in enumerate(sections, 1):
        body.append(f'<section id="s{n}">\n<h2>{n}. {title}</h2>\n{html}</section>\n')
    return f"Privacy Policy - {c}", "".join(body)


_NAV = ["Home", "Products", "Pricing", "Enterprise", "Developers", "Blog", "Careers", "Press",
        "Support", "Community", "Partners", "Security", "Status", "Sign in", "Sign up"]
_FOOT = ["About", "Careers", "Investors", "Press", "Legal", "Privacy", "Terms", "Cookies",
         "Accessibility", "Sitemap", "Contact", "Help center", "Trust center", "Imprint"]


def _chrome_script(rng: random.Random) -> str:
    """A big inline bootstrap script with tokens, like real sites ship (~6 KB)."""
    flags = ",".join(f'"exp_{rng.randint(1000, 9999)}":{rng.choice(["true", "false"])}'
                     for _ in range(120))
    return ('<script nonce="{{NONCE}}">window.__BOOT__={"session":"{{TOKEN}}","csrf":'
            '"{{NONCE}}","ab":{' + flags + '}};</script>\n')


def template(i: int, version: int) -> str:
    """Page ``i`` at ``version`` with {{TOKEN}}/{{NONCE}}/{{CB}}/{{CONSENT}} placeholders."""
    title, main = _policy(i, version)
    rng = random.Random(i * 104729 + 3)
    visible_consent = i % 2 == 0  # half the pages show a per-request id in the cookie banner
    nav = "".join(f'<li><a href="/{label.lower().replace(" ", "-")}?sid={{{{TOKEN}}}}&amp;'
                  f'ref=nav">{label}</a></li>' for label in _NAV)
    mega = "".join(f'<li><a href="/products/item-{rng.randint(100, 999)}?sid={{{{TOKEN}}}}'
                   f'&amp;utm_source=menu&amp;utm_campaign={{{{CB}}}}">Product '
                   f"{k + 1}</a></li>" for k in range(25))
    foot = "".join(f'<li><a href="/{label.lower().replace(" ", "-")}?sid={{{{TOKEN}}}}">'
                   f"{label}</a></li>" for label in _FOOT)
    banner_id = (" Your consent ID: {{CONSENT}}." if visible_consent else "")
    head = (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="csrf-token" content="{{NONCE}}">\n'
        + "".join(f'<link rel="stylesheet" href="/static/css/{name}.css?v={{{{CB}}}}" '
                  'integrity="sha384-{{NONCE}}">\n' for name in ("site", "nav", "legal"))
        + _chrome_script(rng)
        + '<script async src="/static/js/analytics.js?cb={{CB}}&amp;sid={{TOKEN}}"></script>\n'
        "</head>\n"
    )
    body = (
        '<body class="legal-page">\n'
        '<a class="skip-link" href="#content">Skip to content</a>\n'
        '<header class="site-header"><nav aria-label="Main"><ul>' + nav + "</ul>"
        '<ul class="mega-menu">' + mega + "</ul></nav></header>\n"
        '<div id="cookie-consent" class="cookie-banner" data-session="{{TOKEN}}">'
        "<p>We use cookies to improve your experience and to measure our audience."
        + banner_id + '</p><button data-action="accept">Accept all</button>'
        '<button data-action="reject">Reject all</button>'
        '<a href="/cookie-settings?sid={{TOKEN}}">Cookie settings</a></div>\n'
        '<aside class="promo"><a href="/offer?campaign={{CB}}&amp;sid={{TOKEN}}">'
        "Try our premium plan free for 30 days!</a></aside>\n"
        '<main id="content">\n' + main + "</main>\n"
        '<footer class="site-footer"><ul>' + foot + "</ul>"
        f"<p>&copy; 2025 {title.split(' - ')[1]}. All rights reserved.</p></footer>\n"
        '<script nonce="{{NONCE}}">(function(){var s="{{TOKEN}}";window.dataLayer='
        'window.dataLayer||[];window.dataLayer.push({event:"pageview",sid:s,cb:"{{CB}}"});'
        "})();</script>\n"
        '<script src="/static/js/consent.js?cb={{CB}}"></script>\n'
        "</body>\n</html>\n"
    )
    page = head + body
    pad = TARGET_BYTES - len(page.encode())
    if pad > 200:  # top up to ~40 KB with more chrome: a second inline config blob
        blob = "".join(f'"k{rng.randint(10000, 99999)}":"{rng.getrandbits(64):016x}",'
                       for _ in range(pad // 30))
        page = page.replace("</head>", '<script nonce="{{NONCE}}">window.__CFG__={'
                            + blob + '"sid":"{{TOKEN}}"};</script>\n</head>', 1)
    return page


def render(template_text: str) -> bytes:
    """Fill the per-request placeholders with fresh random tokens."""
    return (template_text.replace("{{TOKEN}}", secrets.token_hex(16))
            .replace("{{NONCE}}", secrets.token_urlsafe(18))
            .replace("{{CB}}", secrets.token_hex(6))
            .replace("{{CONSENT}}", secrets.token_hex(8))).encode()


def page_name(i: int) -> str:
    return f"p{i:05d}.html"


class PageSet:
    """N page templates for both versions; :meth:`write` renders them with fresh tokens."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.templates = {1: [template(i, 1) for i in range(n)],
                          2: [template(i, 2) for i in range(n)]}
        self._stamp = 1_700_000_000  # explicit, strictly increasing mtimes -> new ETags

    def write(self, root: Path, version: int) -> int:
        """(Re)write all pages of ``version`` under ``root``; return total bytes."""
        self._stamp += 3600
        total = 0
        for i, text in enumerate(self.templates[version]):
            data = render(text)
            path = root / page_name(i)
            tmp = root / f".{page_name(i)}.tmp"
            tmp.write_bytes(data)
            os.utime(tmp, (self._stamp, self._stamp))
            os.replace(tmp, path)
            total += len(data)
        return total
