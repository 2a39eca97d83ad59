"""Category vocabularies: which words and phrases carry which kind of policy meaning.

Each entry is ``(category, label, pattern)``. Patterns match the comparison form of a sentence
(lower-case word tokens joined by single spaces, link targets and dates removed; see
:mod:`tracker.compare.text`). A label names a value of the category ("email address",
"advertising", "standard contractual clauses"); labels starting with ``~`` are topic cues only
("we share", "retain") that say what a sentence is about without being a value themselves, and
``~~`` marks weak cues ("request", "protect") that only count together with others.

The vocabulary is written from how privacy policies are phrased in general (GDPR, CCPA and
COPPA wording, common industry terms), not from any particular policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

RETENTION = "retention"
DATA = "data_collected"
PURPOSES = "purposes"
SHARING = "sharing"
TRANSFERS = "transfers"
RIGHTS = "rights"
CHILDREN = "children"
POLICY_CHANGES = "policy_changes"
CONTACT = "contact"
SECURITY = "security"
COOKIES = "cookies_tracking"
OTHER = "other_substantive"
EFFECTIVE_DATE = "effective_date"

CATEGORIES = [EFFECTIVE_DATE, RETENTION, DATA, PURPOSES, SHARING, TRANSFERS, RIGHTS, CHILDREN,
              POLICY_CHANGES, CONTACT, SECURITY, COOKIES, OTHER]

_ENTRIES: list[tuple[str, str, str]] = [
    # --- retention ---------------------------------------------------------------------------
    (RETENTION, "~retain", r"retain\w*|retention|kept|keep(?:s|ing)? (?:it|them|this|your|the|"
                           r"such|personal|data|information|records?|logs?)"),
    (RETENTION, "~~delete", r"delet(?:e|es|ed|ing|ion)|eras(?:e|ed|ure)|purg(?:e|ed)|"
                           r"anonymi[sz]\w*|de identif\w*|destroy\w*|destruction"),
    (RETENTION, "~period", r"retention periods?|storage periods?|as long as (?:is )?"
                           r"(?:necessary|needed|required)|indefinitely|permanently"),
    # --- data collected ----------------------------------------------------------------------
    (DATA, "~collect", r"collect\w*|gather\w*|obtain\w*|receiv\w* (?:information|data)|"
                       r"(?:information|data) (?:you|we) (?:provide|collect)"),
    (DATA, "name", r"(?:first|last|full|user|display) ?names?|your name"),
    (DATA, "email address", r"e ?mail address(?:es)?"),
    (DATA, "phone number", r"(?:tele)?phone numbers?|mobile numbers?"),
    (DATA, "postal address", r"(?:postal|mailing|home|billing|physical) address(?:es)?"),
    (DATA, "date of birth", r"dates? (?:and or )?(?:or )?(?:year )?of birth|birth ?dates?|"
                            r"birthdays?|year of birth"),
    (DATA, "gender", r"gender|sex"),
    (DATA, "age", r"your age|age range"),
    (DATA, "location", r"(?:precise |approximate |geo ?)locations?|locations? (?:data|"
                       r"information|history|services)|gps|geolocation"),
    (DATA, "ip address", r"ip address(?:es)?"),
    (DATA, "device identifiers", r"device (?:identifiers?|ids?|information|data)|imei|"
                                 r"mac address|udid"),
    (DATA, "biometric", r"biometric\w*|facial (?:recognition|geometry|scans?|images?)|"
                        r"fingerprints?|face ?prints?|voice ?prints?|selfies?"),
    (DATA, "financial", r"financial (?:information|data|account\w*)|bank account\w*|"
                        r"credit card\w*|debit card\w*|payment (?:information|details|data|"
                        r"card\w*)|card numbers?"),
    (DATA, "government id", r"social security numbers?|passports?|driver s licen[cs]es?|"
                            r"national id\w*|identity (?:cards?|documents?)|id documents?|"
                            r"tax (?:id\w*|information|numbers?)|taxpayer\w*|vat id\w*"),
    (DATA, "health", r"health (?:information|data)|medical\w*"),
    (DATA, "sensitive data", r"sensitive (?:personal )?(?:data|information)|special "
                             r"categor\w*|racial|ethnic origin|religio\w*|sexual orientation"),
    (DATA, "contacts", r"contact lists?|address books?|your contacts"),
    (DATA, "content", r"photos?|videos?|audio|recordings?|voice|messages|user generated "
                      r"content|files|images"),
    (DATA, "usage data", r"usage (?:data|information)|browsing (?:history|data|activity)|"
                         r"search (?:history|queries|terms)|interaction data|log (?:data|"
                         r"files|information)|clickstream|activity data|engagement"),
    (DATA, "demographics", r"demographic\w*|interests|preferences|employment|education\w*|"
                           r"occupation|job titles?"),
    (DATA, "credentials", r"credentials?|passwords?|login information"),
    (DATA, "inferences", r"inferences?"),
    (DATA, "~sources", r"from third part(?:y|ies)|from (?:our )?partners|publicly available|"
                       r"from other sources|data brokers?"),
    # --- purposes ----------------------------------------------------------------------------
    (PURPOSES, "~purpose", r"purposes?|legal bas[ie]s|lawful bas[ie]s|legitimate interests?"),
    (PURPOSES, "~~use", r"we (?:may )?use (?:your |the |this |such |personal )?(?:information|"
                        r"data)|in order to"),
    (PURPOSES, "advertising", r"advertis\w*|\bads?\b|ad (?:targeting|measurement)"),
    (PURPOSES, "targeted advertising", r"targeted (?:advertising|ads|content)|interest based|"
                                       r"personali[sz]ed (?:advertising|ads)|retarget\w*|"
                                       r"behavio[u]?ral advertising|cross context"),
    (PURPOSES, "marketing", r"marketing|promotional|promotions?|newsletters?"),
    (PURPOSES, "profiling", r"profil(?:ing|es?)|automated decision\w*|automated processes|"
                            r"automated (?:means|processing)|scor(?:e|es|ing)"),
    (PURPOSES, "ai training", r"(?:machine learning|artificial intelligence|\bai\b|"
                              r"(?:language|ai|ml) models?|generative|train\w* (?:our |the )?"
                              r"(?:models?|algorithms?|ai))|model (?:development|training)"),
    (PURPOSES, "research", r"research\w*|studies|statistic\w*"),
    (PURPOSES, "personalisation", r"personali[sz]\w*|tailor\w*|customi[sz]\w*|recommendations?"),
    (PURPOSES, "fraud prevention", r"fraud\w*|prevent\w* (?:abuse|misuse|spam)|security "
                                   r"purposes"),
    (PURPOSES, "legal compliance", r"comply with (?:our )?(?:legal|applicable)|legal "
                                   r"obligations?|compliance"),
    (PURPOSES, "consent basis", r"your consent|with consent|based on consent"),
    (PURPOSES, "combining data", r"combin\w*|link\w* (?:it |this |such )?(?:with|to)|"
                                 r"associat\w* with"),
    # --- sharing -----------------------------------------------------------------------------
    (SHARING, "~share", r"shar(?:e|es|ed|ing)|disclos\w*|provid\w* (?:it |your \w+ )?to|"
                        r"transmit\w*|make available|rent\w*|lease|trade"),
    (SHARING, "sale", r"sell\w*|sold|sale of|sales? of (?:your |personal )"),
    (SHARING, "third parties", r"third part(?:y|ies)(?! cookies)"),
    (SHARING, "service providers", r"service providers?|vendors?|processors?|sub ?processors?|"
                                   r"suppliers?|contractors?"),
    (SHARING, "affiliates", r"affiliat\w*|subsidiar\w*|group compan\w*|parent compan\w*|"
                            r"corporate family"),
    (SHARING, "partners", r"(?:business|advertising|marketing|trusted|selected) partners?|"
                          r"partners"),
    (SHARING, "advertisers", r"advertisers|ad networks?|publishers"),
    (SHARING, "authorities", r"law enforcement|authorit(?:y|ies)|government\w*|courts?|"
                             r"regulators?|police|subpoena\w*|court orders?|legal process"),
    (SHARING, "business transfer", r"merger|acquisition|bankruptcy|sale of (?:all|assets|"
                                   r"the company)|reorgani[sz]ation"),
    (SHARING, "joint controllers", r"joint ?controll\w*"),
    (SHARING, "public", r"publicly (?:visible|display\w*|available)|other users|"
                        r"collaborators|account owners?|organi[sz]ation that owns"),
    # --- transfers ---------------------------------------------------------------------------
    (TRANSFERS, "~transfer", r"transfer\w* (?:\w+ ){0,6}(?:outside|to other countries|abroad|"
                             r"international\w*|across borders)|international (?:data )?"
                             r"transfers?|cross border|third countr\w*|countries other than|"
                             r"stored (?:in|on servers)|servers? (?:located )?in"),
    (TRANSFERS, "standard contractual clauses", r"standard (?:contractual|data protection) "
                                                r"clauses|\bsccs?\b|model clauses"),
    (TRANSFERS, "privacy shield", r"privacy shield"),
    (TRANSFERS, "data privacy framework", r"data privacy framework|\bdpf\b"),
    (TRANSFERS, "adequacy", r"adequacy|adequate (?:level|protection)"),
    (TRANSFERS, "binding corporate rules", r"binding corporate rules|\bbcrs?\b"),
    (TRANSFERS, "~~country", r"united states|\bu s\b|\busa\b|european economic area|\beea\b|"
                            r"european union|switzerland|united kingdom|\buk\b|netherlands|"
                            r"ireland|germany|france|china|japan|india|singapore|canada|"
                            r"australia|brazil|korea|israel"),
    # --- rights ------------------------------------------------------------------------------
    (RIGHTS, "~rights", r"rights?|data subject|exercise"),
    (RIGHTS, "~~request", r"request\w*|choices?|controls?|settings|verif\w*"),
    (RIGHTS, "access", r"(?:right (?:to|of) )?access (?:to )?(?:your|the|personal)|"
                       r"right to know|copy of (?:your|the)"),
    (RIGHTS, "deletion", r"right to (?:request )?(?:the )?(?:delet\w*|erasure|be forgotten)|"
                         r"delete (?:your|their) (?:account|data|information|personal)|"
                         r"delisting|de listing"),
    (RIGHTS, "correction", r"correct\w*|rectif\w*|updat\w* (?:your|inaccurate)"),
    (RIGHTS, "portability", r"portab\w*"),
    (RIGHTS, "objection", r"\bobject\w*"),
    (RIGHTS, "restriction", r"restrict\w*|limit the use"),
    (RIGHTS, "opt out", r"opt\w* out|unsubscrib\w*|do not (?:sell|share)(?: or (?:sell|share))?|"
                        r"withdraw\w* (?:your )?consent|opt\w* in"),
    (RIGHTS, "complaint", r"complain\w*|lodge|supervisory authorit\w*|dispute resolution|"
                          r"arbitrat\w*|\bjams\b|ombudsman"),
    (RIGHTS, "appeal", r"appeal\w*"),
    (RIGHTS, "non discrimination", r"discriminat\w*"),
    (RIGHTS, "authorized agent", r"authori[sz]ed agents?"),
    (RIGHTS, "request channel", r"online form|web form|request form|privacy portal|"
                                r"toll free|by (?:e ?mail|phone|mail)|privacy center|"
                                r"trust center|preference cent(?:er|re)|dashboard"),
    # --- children ----------------------------------------------------------------------------
    (CHILDREN, "~children", r"child\w*|minors?|kids?|teen\w*|under the age|years of age|"
                            r"parental|parents?|guardians?|coppa|young people|age of \d+|"
                            r"under \d\d\b|minimum age"),
    # --- policy changes ----------------------------------------------------------------------
    (POLICY_CHANGES, "~changes", r"changes? to (?:this|our|the) (?:privacy )?(?:policy|notice|"
                                 r"statement)|(?:update|change|modify|amend|revise)\w* (?:this|"
                                 r"our|the) (?:privacy )?(?:policy|notice|statement)|"
                                 r"material changes?|continued use|notify you|prior notice|"
                                 r"advance notice|effective date"),
    # --- contact -----------------------------------------------------------------------------
    (CONTACT, "~contact", r"contact (?:us|our|the)|data protection officer|\bdpo\b|"
                          r"representative|controller|privacy team|privacy office\w*"),
    (CONTACT, "~~questions", r"questions|concerns|inquir\w*"),
    (CONTACT, "postal address", r"\d+ [\w ]{2,40} (?:street|st|avenue|ave|road|rd|boulevard|"
                                r"blvd|way|lane|drive|floor|suite)\b|p ?o box|postal address"),
    (CONTACT, "phone", r"\+? ?\d{1,3} \d{2,4} \d{3,4} \d{3,4}|\d{3} \d{3} \d{4}"),
    # --- security ----------------------------------------------------------------------------
    (SECURITY, "~security", r"secur\w*|safeguard\w*|breach\w*|unauthori[sz]ed access"),
    (SECURITY, "~~protect", r"protect\w*"),
    (SECURITY, "encryption", r"encrypt\w*|ssl|tls|https|hash\w*|pseudonymi\w*"),
    (SECURITY, "access controls", r"access controls?|firewalls?|two factor|multi factor|2fa|"
                                  r"authentication|audit\w*|penetration|monitoring"),
    # --- cookies and tracking ----------------------------------------------------------------
    (COOKIES, "cookies", r"cookies?"),
    (COOKIES, "pixels", r"pixels?(?: tags?)?|web beacons?|clear gifs?|tags|tracking (?:tags|"
                        r"technolog\w*|pixels?)|sdks?|software development kits?|local storage"),
    (COOKIES, "analytics", r"analytics|google analytics|telemetry|glean|adobe analytics|"
                           r"mixpanel|amplitude|hotjar"),
    (COOKIES, "advertising ids", r"advertising (?:id\w*|identifiers?)|idfa|aaid|ad ids?|"
                                 r"mobile ad"),
    (COOKIES, "ad tech", r"doubleclick|criteo|facebook pixel|meta pixel|google ads|adsense|"
                         r"retargeting|tc strings?|consent string|tcf"),
    (COOKIES, "do not track", r"do not track|\bdnt\b|global privacy control|\bgpc\b"),
    (COOKIES, "~~tracking", r"track\w*|fingerprint\w*|browser|device graph"),
    # --- other substantive -------------------------------------------------------------------
    (OTHER, "~scope", r"(?:policy|notice|statement) (?:applies|covers|does not apply)|"
                      r"applies (?:only )?to|terms of (?:service|use)"),
    (OTHER, "monetisation", r"royalt\w*|revenue shar\w*|(?:receive|receives|paid|earn\w*) "
                            r"(?:a )?(?:payments?|fees?|commissions?|compensation)"),
]


@dataclass(frozen=True, slots=True)
class Hit:
    """One lexicon match in a sentence: category, label and its token span."""

    category: str
    label: str
    start: int  # first token index
    end: int  # one past the last token index

    @property
    def is_value(self) -> bool:
        return not self.label.startswith("~")

    @property
    def weight(self) -> float:
        """Evidence weight: a value 1.0, a topic cue 0.75, a weak cue ("request") 0.3."""
        if not self.label.startswith("~"):
            return 1.0
        return 0.3 if self.label.startswith("~~") else 0.75


def _compile() -> list[tuple[str, str, re.Pattern[str]]]:
    return [(category, label, re.compile(r"(?<![a-z0-9])(?:" + pattern + r")(?![a-z0-9])"))
            for category, label, pattern in _ENTRIES]


_COMPILED = _compile()


def lexicon_hits(tokens: list[str]) -> list[Hit]:
    """Every lexicon entry matched in a token list, with token spans."""
    text = " ".join(tokens)
    if not text:
        return []
    starts = []  # character offset of each token
    offset = 0
    for token in tokens:
        starts.append(offset)
        offset += len(token) + 1
    hits: list[Hit] = []
    for category, label, pattern in _COMPILED:
        for m in pattern.finditer(text):
            first = _token_at(starts, m.start())
            last = _token_at(starts, max(m.start(), m.end() - 1))
            hits.append(Hit(category, label, first, last + 1))
    return hits


def _token_at(starts: list[int], char: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= char:
            lo = mid
        else:
            hi = mid - 1
    return lo


#: Section headings that say which category a section's sentences belong to.
_HEADING_CUES: list[tuple[str, re.Pattern[str]]] = [
    (RETENTION, re.compile(r"retention|retain|how long|storage period|keep", re.I)),
    (CHILDREN, re.compile(r"child|minor|kids|teen|age\b", re.I)),
    (COOKIES, re.compile(r"cookie|tracking|analytics|do not track|advertising technolog", re.I)),
    (TRANSFERS, re.compile(r"transfer|international|cross.border|outside|where .*(?:store|"
                           r"process)|location of data|storage location", re.I)),
    (SECURITY, re.compile(r"secur|protect", re.I)),
    (POLICY_CHANGES, re.compile(r"changes? to|updates? to|amendment|modification", re.I)),
    (CONTACT, re.compile(r"contact|controller|who (?:we are|is responsible)|representative|"
                         r"data protection officer|about us", re.I)),
    (RIGHTS, re.compile(r"rights|choices|opt.out|access|control|request|your privacy "
                        r"(?:choices|options)|deleting|california|residents|state", re.I)),
    (SHARING, re.compile(r"shar|disclos|third part|recipient|who (?:we|do we) (?:give|share)|"
                         r"sell|sale|service provider|partners", re.I)),
    (PURPOSES, re.compile(r"\buse\b|\buses\b|how we use|purpose|legal basis|why we|"
                          r"processing", re.I)),
    (DATA, re.compile(r"collect|information we|data we|what (?:data|information)|"
                      r"categories of|types of|personal (?:data|information)", re.I)),
]


#: A statement of what the policy covers; any change of its content words changes the scope.
SCOPE_STATEMENT = re.compile(r"(?<![a-z])(?:policy|notice|statement) (?:only )?(?:applies|covers|"
                             r"does not (?:apply|cover))(?![a-z])")


@lru_cache(maxsize=512)
def heading_categories(section: tuple[str, ...]) -> tuple[str, ...]:
    """Categories suggested by the innermost section headings (innermost first).

    Cached: every changed passage of a section asks again, and a policy has few sections.
    """
    out: list[str] = []
    for title in reversed(section[-2:]):
        for category, pattern in _HEADING_CUES:
            if pattern.search(title) and category not in out:
                out.append(category)
                break
    return tuple(out)
