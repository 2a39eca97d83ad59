"""HTML, Markdown and plain text -> :class:`~tracker.document.Document`.

What a reader of a policy sees is kept; what rotates on every request is dropped: scripts,
styles, hidden elements, menus, headers and footers, cookie and consent banners, forms, link
targets (and with them every tracking parameter and session token), copyright years. Headings
become section paths; paragraphs, list items and table rows become blocks.

The HTML path walks lxml's tree directly rather than a BeautifulSoup tree: on a 40 KB page
BeautifulSoup's tree building costs ~30x more than lxml's, and parsing is the check cycle's hot
path. BeautifulSoup's ``UnicodeDammit`` still decides the charset (see :mod:`tracker.charset`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import lxml.etree

from .document import HEADING, ITEM, PARAGRAPH, ROW, Block, Document, clean_display

if TYPE_CHECKING:
    from lxml.cssselect import CSSSelector

_Element = lxml.etree._Element

#: Bump when normalization output changes; `tracker renormalize` re-derives versions with it.
NORMALIZER_VERSION = 2


class NormalizeError(ValueError):
    """The input cannot be read as a document (bad selector, unreadable file, ...)."""


_DROP_TAGS = {
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
    "canvas", "form", "button", "input", "select", "textarea", "label", "dialog", "head",
    "video", "audio", "picture", "img", "map", "meta", "link", "title", "nav",
    "aside",
}
_CHROME_TAGS = {"header", "footer"}
_CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog",
                 "alertdialog", "menu", "menubar"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_TEXT_BLOCKS = {"p", "dt", "dd", "pre", "address", "figcaption", "caption", "summary",
                "blockquote", "center"}
_LISTS = {"ul", "ol", "dl", "menu"}
_BREAKS = {"br", "hr"}
# Class/id words of consent banners, promos and screen-reader-only furniture.
_FURNITURE = re.compile(
    r"(?:^|[\s_-])(?:cookie|cookies|consent|gdpr-banner|cc-banner|cc-window|onetrust|"
    r"optanon|cookiebot|didomi|truste|osano|usercentrics|qc-cmp|cmp-|sp_message|"
    r"newsletter|promo|advert|ads?|ad-slot|sponsor|social-share|share-buttons|"
    r"breadcrumbs?|skip-link|sr-only|visually-hidden|screen-reader-text|back-to-top)"
    r"(?:$|[\s_-])",
    re.IGNORECASE,
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_COPYRIGHT = re.compile(
    r"^(?:copyright\s*)?(?:©|\(c\)|copyright)\s*(?:\d{4}\s*[-–—]\s*)?\d{4}\b|"
    r"^all rights reserved\.?$",
    re.IGNORECASE,
)
_FURNITURE_TEXT = re.compile(
    r"^(?:back to top|skip to (?:main )?content|print(?: this page)?|share(?: this)?|"
    r"top|menu|close|accept(?: all)?(?: cookies)?|reject all|cookie settings)$",
    re.IGNORECASE,
)
#: Cheap tests before the two patterns, which every block's text would otherwise go through:
#: what _COPYRIGHT can start with, and the length of _FURNITURE_TEXT's longest phrase.
_COPYRIGHT_FIRST = frozenset("cC\u00a9(aA")
_FURNITURE_MAX_CHARS = len("skip to main content")
_WAYBACK_TOOLBAR = re.compile(
    r"<!-- BEGIN WAYBACK TOOLBAR INSERT -->.*?<!-- END WAYBACK TOOLBAR INSERT -->", re.DOTALL)
_WAYBACK_HEAD = re.compile(r"<head[^>]*>.*?<!-- End Wayback Rewrite JS Include -->",
                           re.DOTALL | re.IGNORECASE)
# Banners that are consent notices may carry headings; the size cap keeps a policy's own
# "Cookies" section (a real part of the text) from being mistaken for one.
_BANNER_MAX_CHARS = 1500


def normalize_html(html: str | bytes, select: list[str] | None = None,
                   remove: list[str] | None = None) -> Document:
    """Normalize an HTML page to a document; ``select``/``remove`` are CSS selectors."""
    return document_from_pruned(prune_html(html, remove), select)


@dataclass
class PrunedPage:
    """A parsed page with its furniture gone: what the block walker reads, nothing else.

    Normalizing is split here so a check can fingerprint the pruned tree
    (:mod:`tracker.fingerprint`) and stop before the walk when the page did not change.
    """

    root: _Element | None
    title: str
    #: Attributes gone too, but ``role="main"`` (see :func:`prune_html`).
    bare: bool = False


def prune_html(html: str | bytes, remove: list[str] | None = None,
               bare: bool = False) -> PrunedPage:
    """Parse, apply ``remove`` selectors and drop the page's chrome.

    ``bare``: also drop the attributes of what stays, but ``role="main"``. The block walk reads
    no attribute but that one (content detection follows it), so a bare tree serializes to
    exactly what normalization reads, and :mod:`tracker.fingerprint` can hash it in C. Not
    for a target's ``select`` selectors, which may test any attribute.
    """
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    root = _parse_html(html)
    if root is None or not isinstance(root.tag, str):
        return PrunedPage(None, "")
    # <head><title> first: ".//title" searches the whole tree, a tenth of a pruning.
    title = root.findtext("head/title")
    if title is None:
        title = root.findtext(".//title")
    title = clean_display(title or "")
    for selector in remove or ():
        for element in _css(selector)(root):
            _drop(element)
    _strip_chrome(root, bare)
    return PrunedPage(root, title, bare)


def document_from_pruned(page: PrunedPage, select: list[str] | None = None) -> Document:
    """The blocks of a pruned page: its ``select`` containers, else its main content."""
    root = page.root
    if root is None:
        return Document()
    if select:
        containers = [el for sel in select for el in select_matches(root, sel)]
    else:
        containers = [_main_content(root)]
    builder = _BlockBuilder()
    for container in containers:
        builder.walk(container)
    builder.flush()
    return Document(builder.blocks, page.title)



def _parse_html(html: str) -> _Element | None:
    # Substring tests first (a memchr-speed scan): the substitutions copy the whole page.
    if "WAYBACK TOOLBAR INSERT" in html:
        html = _WAYBACK_TOOLBAR.sub("", html)
    if "End Wayback Rewrite JS Include" in html:
        html = _WAYBACK_HEAD.sub("<head>", html, count=1)
    if "\x00" in html:
        html = html.replace("\x00", "")
    if not html.strip():
        return None
    root, cut_short = _parse_with(html, _PARSER, _UTF8_PARSER)
    if cut_short:
        deep, _ = _parse_with(html, _DEEP_PARSER, _DEEP_UTF8_PARSER)
        flat = _flattened(deep)
        if flat is not None:
            root = flat
    return root


def _parse_with(html: str, parser: lxml.etree.HTMLParser,
                utf8_parser: lxml.etree.HTMLParser) -> tuple[_Element | None, bool]:
    """The tree, and whether libxml2 stopped at its nesting limit (dropping the rest)."""
    try:
        # Plain lxml.etree elements: lxml.html's element classes cost a Python call per node.
        root, used = lxml.etree.HTML(html, parser), parser
    except ValueError:  # a str that declares an XML encoding: parse it as UTF-8 bytes
        try:
            root, used = lxml.etree.HTML(html.encode("utf-8"), utf8_parser), utf8_parser
        except (lxml.etree.LxmlError, ValueError):
            return None, False
    except lxml.etree.LxmlError:
        return None, False
    last = used.error_log.last_error  # the limit ends the parse: it is the last error
    return root, last is not None and last.type == _NESTING_LIMIT


# huge_tree stays off: libxml2 then caps nesting at 256 levels, which keeps hostile 100k-deep
# pages cheap and the recursive walk below far from Python's stack limit.
_PARSER = lxml.etree.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=False,
                                collect_ids=False, no_network=True)
_UTF8_PARSER = lxml.etree.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=False,
                                     collect_ids=False, no_network=True, encoding="utf-8")
# For the rare page that reaches that cap: nesting up to 2048 levels, flattened after.
_DEEP_PARSER = lxml.etree.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=True,
                                     collect_ids=False, no_network=True)
_DEEP_UTF8_PARSER = lxml.etree.HTMLParser(remove_comments=True, remove_pis=True,
                                          huge_tree=True, collect_ids=False, no_network=True,
                                          encoding="utf-8")
_NESTING_LIMIT = lxml.etree.ErrorTypes.ERR_RESOURCE_LIMIT
#: Formatting tags legacy pages open and never close (``<p><font>...`` on every paragraph):
#: libxml2 nests each paragraph inside the last one, and a few hundred reach its cap.
_FORMATTING = ("font", "b", "i", "u", "em", "strong", "small", "big", "tt", "s", "strike",
               "span", "basefont")
#: Deeper than this after flattening, the page keeps its capped parse instead: the block walk
#: recurses two frames a level, and Python allows a thousand.
_WALKABLE_DEPTH = 400


def _flattened(root: _Element | None) -> _Element | None:
    """A too-deep tree made walkable without losing text, or None if it stays too deep.

    Unclosed formatting tags are unwrapped (the walk reads them as plain text anyway), and a
    paragraph nested in a paragraph becomes its next sibling, as an HTML5 parser would have
    made it (a ``<p>`` closes the open one). Done in document order, the text keeps its order.
    """
    if root is None:
        return None
    lxml.etree.strip_tags(root, *_FORMATTING)
    for paragraph in [p for p in root.iter("p") if _parent_tag(p) == "p"]:
        paragraph.getparent().addnext(paragraph)  # type: ignore[union-attr]
    return None if _deeper_than(root, _WALKABLE_DEPTH) else root


def _parent_tag(element: _Element) -> str | None:
    parent = element.getparent()
    return None if parent is None else parent.tag


def _deeper_than(root: _Element, limit: int) -> bool:
    stack = [(root, 0)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def _is_boilerplate(text: str) -> bool:
    """A copyright line or a lone control label ("Back to top", "Accept all cookies")."""
    return ((text[0] in _COPYRIGHT_FIRST and _COPYRIGHT.match(text) is not None)
            or (len(text) <= _FURNITURE_MAX_CHARS and _FURNITURE_TEXT.match(text) is not None))


def _text(element: _Element) -> str:
    return "".join(element.itertext())


def _css(selector: str) -> CSSSelector:
    # Imported here: cssselect compiles its tokenizer's patterns on import (~4 ms of every
    # start), and only targets with ``select`` or ``remove`` selectors need it.
    from cssselect import SelectorError
    from lxml.cssselect import CSSSelector

    try:
        return CSSSelector(selector)
    except SelectorError as exc:
        raise NormalizeError(f"invalid CSS selector {selector!r}: {exc}") from None


def select_matches(root: _Element, selector: str) -> list[_Element]:
    """The elements a target's ``select`` selector picks, in document order."""
    return _css(selector)(root)


@functools.cache
def check_selector(selector: str) -> None:
    """Raise :class:`NormalizeError` for a selector that cannot be compiled (config checks).

    Cached: a long target list often repeats the same few selectors.
    """
    _css(selector)


def _drop(element: _Element) -> None:
    """Remove an element but keep its tail text (the text that follows it)."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = _settable((previous.tail or "") + element.tail)
        else:
            parent.text = _settable((parent.text or "") + element.tail)
    parent.remove(element)


#: Characters the HTML parser keeps in text but lxml refuses to assign back (XML forbids them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _settable(text: str) -> str:
    """``text`` without what lxml would refuse to store; the blocks drop those anyway.

    A vertical tab or form feed next to a dropped element (seen in pages exported from word
    processors) otherwise failed the whole page on every check.
    """
    return _NOT_XML.sub("", text)


def _furniture_by_attributes(element: _Element) -> bool:
    """Hidden, a chrome role, or a banner's class or id (for an element with attributes)."""
    get = element.get
    if get("hidden") is not None or get("aria-hidden") == "true":
        return True
    style = get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    role = get("role")
    if role and role.lower() in _CHROME_ROLES:
        return True
    names = (get("class") or "") + " " + (get("id") or "")
    if names.strip() and _FURNITURE.search(names):
        return len(_text(element)) <= _BANNER_MAX_CHARS
    return False


def _strip_chrome(root: _Element, bare: bool = False) -> None:
    """Drop furniture everywhere, and headers/footers that are not inside the content.

    A walk that does not descend into what it drops: the subtree of a menu or a banner is
    never looked at (every decision is taken on the untouched tree, before any drop; an
    element's own attributes are read before ``bare`` clears them, its ancestors keep
    ``role="main"``, the one attribute later decisions read). Every element of a page comes
    through this loop, so its tests are inline, cheapest first.
    """
    doomed = []
    stack = [root]
    if bare:
        _bare(root)
    while stack:
        for element in stack.pop():
            tag = element.tag
            if tag.__class__ is not str or tag in _DROP_TAGS:  # comments, PIs, entities too
                doomed.append(element)
                continue
            if element.keys():  # most elements carry no attributes: one C call settles them
                if _furniture_by_attributes(element):
                    doomed.append(element)
                    continue
                if bare:
                    _bare(element)
            if tag in _CHROME_TAGS and not _inside_content(element):
                doomed.append(element)
            else:
                stack.append(element)
    for element in doomed:
        _drop(element)


def _bare(element: _Element) -> None:
    """Clear an element's attributes but ``role="main"``."""
    attributes = element.attrib
    if attributes:
        main = attributes.get("role") == "main"
        attributes.clear()
        if main:
            attributes["role"] = "main"


def _inside_content(element: _Element) -> bool:
    """A header or footer inside <main>/<article> usually holds the title and the date."""
    for ancestor in element.iterancestors():
        if ancestor.tag in ("main", "article") or ancestor.get("role") == "main":
            return True
    return False


_ROLE_MAIN = lxml.etree.XPath("//*[@role='main']")  # compiled once: root.xpath() recompiles


def _main_content(root: _Element) -> _Element:
    """The element that holds the page's text: <main>/<article>/role=main, else the densest."""
    candidates = [el for el in root.iter("main", "article") if isinstance(el.tag, str)]
    candidates += _ROLE_MAIN(root)
    body = root.find("body")
    if body is None:
        body = root
    if candidates:
        best = max(candidates, key=_text_length)
        # A tiny <article> (a teaser card) must not win over a page without semantic markup.
        if _text_length(best) >= 0.35 * _text_length(body):
            return best
    node = body
    while True:
        total = _text_length(node)
        children = [c for c in node if isinstance(c.tag, str)]
        if not children or total == 0:
            return node
        child = max(children, key=_text_length)
        if _text_length(child) < 0.9 * total:
            return node
        node = child


def _text_length(element: _Element) -> int:
    """Characters of text (a cheap, C-speed stand-in for words when comparing candidates)."""
    return len(_TEXT_OF(element))


#: The element's text as one string, serialized by libxml2 (several times faster than
#: joining itertext() in Python; comments are gone by the time this runs).
_TEXT_OF = functools.partial(lxml.etree.tostring, method="text", encoding="unicode",
                             with_tail=False)


class _BlockBuilder:
    """Walks a content tree, emitting blocks under the current heading path."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._path: list[tuple[int, str]] = []
        self._pending: list[str] = []
        self.section: tuple[str, ...] = ()  # titles of self._path, kept in step with it

    def flush(self) -> None:
        if self._pending:
            raw = "".join(self._pending)
            self._pending = []
            if raw and not raw.isspace():  # whitespace between blocks: nothing to emit
                self._emit(PARAGRAPH, raw)

    def _emit(self, kind: str, raw: str, level: int = 0) -> None:
        text = clean_display(raw)
        if not text or _is_boilerplate(text):
            return
        if kind == HEADING:
            path = self._path
            while path and path[-1][0] >= level:
                path.pop()
            self.blocks.append(Block(HEADING, text, tuple(title for _, title in path), level))
            path.append((level, text))
            self.section = tuple(title for _, title in path)
        else:
            self.blocks.append(Block(kind, text, self.section, level))

    def walk(self, element: _Element, depth: int = 0) -> None:
        """Emit the blocks of ``element``'s children (iteratively deep pages are fine)."""
        # Each .text / .tail / .tag read makes a new str in lxml: read once, use the name.
        # (self._pending each time: a visit that flushes starts a new list.)
        if text := element.text:
            self._pending.append(text)
        for child in element:
            self._visit(child, depth)
            if tail := child.tail:
                self._pending.append(tail)

    def _visit(self, child: _Element, depth: int) -> None:
        tag = child.tag
        if not isinstance(tag, str):
            return
        if tag in _HEADINGS:
            self.flush()
            self._emit(HEADING, _inline_text(child), _HEADINGS[tag])
        elif tag == "li":
            self.flush()
            self._list_item(child, depth + 1)
        elif tag in _LISTS:
            self.flush()
            self.walk(child, depth)
            self.flush()
        elif tag == "tr":
            self.flush()
            self._row(child)
        elif tag in _TEXT_BLOCKS and not _has_block_children(child):
            self.flush()
            self._emit(PARAGRAPH, _inline_text(child))
        elif tag in _BREAKS:
            self._pending.append(" ")
        elif tag in _INLINE:
            if _has_block_children(child):
                self.walk(child, depth)
            else:
                self._pending.append(_inline_text(child))
        else:  # div, section, table, tbody, blockquote with blocks, unknown tags ...
            self.flush()
            self.walk(child, depth)
            self.flush()

    def _list_item(self, item: _Element, depth: int) -> None:
        own: list[str] = [item.text or ""]
        nested: list[_Element] = []
        for child in item:
            tag = child.tag
            if isinstance(tag, str):
                if tag in _LISTS or tag in _BLOCKISH:
                    nested.append(child)
                else:
                    own.append(_inline_text(child))
            if tail := child.tail:
                own.append(tail)
        self._emit(ITEM, "".join(own), depth)
        for child in nested:
            if child.tag in _LISTS:
                self.walk(child, depth)
            else:
                self._visit(child, depth)
            self.flush()

    def _row(self, row: _Element) -> None:
        cells = [clean_display(_inline_text(cell)) for cell in row
                 if isinstance(cell.tag, str) and cell.tag in ("td", "th")]
        cells = [c for c in cells if c]
        if cells:
            self._emit(ROW, " | ".join(cells))


_INLINE = {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i",
           "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time",
           "tt", "u", "var", "del", "ins", "wbr", "nobr", "strike", "big", "label", "acronym"}
_BLOCKISH = _TEXT_BLOCKS | {"div", "section", "table", "article", "main", "header", "footer",
                            "figure", "details", "fieldset"} | set(_HEADINGS)


#: Descendants that make an element a container of blocks rather than a block itself.
_BLOCK_TAGS = frozenset(_BLOCKISH | _LISTS | {"li"})


def _has_block_children(element: _Element) -> bool:
    if not len(element):  # most blocks are plain text
        return False
    for descendant in element.iterdescendants():
        tag = descendant.tag
        if tag in _BLOCK_TAGS and isinstance(tag, str):
            return True
    return False


def _inline_text(element: _Element) -> str:
    """The element's text with <br> as a space; link targets are never part of the text."""
    parts: list[str] = []
    # Iterative walk: hostile pages nest inline elements thousands deep.
    if text := element.text:
        parts.append(text)
    if not len(element):  # most blocks are plain text: no children to walk
        return text or ""
    pending = [(child, False) for child in reversed(element)]
    while pending:
        node, done = pending.pop()
        if done:
            if tail := node.tail:
                parts.append(tail)
            continue
        tag = node.tag
        if isinstance(tag, str):
            if tag in _BREAKS:
                parts.append(" ")
            else:
                if text := node.text:
                    parts.append(text)
                pending.append((node, True))
                pending.extend((child, False) for child in reversed(node))
                continue
        if tail := node.tail:
            parts.append(tail)
    return "".join(parts)


# --- Markdown and plain text -------------------------------------------------------------

@functools.cache
def _markdown_parser():  # type: ignore[no-untyped-def]
    """Built on first use: markdown-it costs ~25 ms to import, and HTML pages never need it."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")

_HTML_TAG = re.compile(r"<[^>]+>")


def parse_markdown(text: str) -> Document:
    """Parse Markdown (as Open Terms Archive extracts it) into the same block model."""
    tokens = _markdown_parser().parse(text)
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    list_depth = 0
    in_item = 0
    row: list[str] | None = None
    heading_level = 0
    for token in tokens:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif kind == "list_item_open":
            in_item += 1
            blocks.append(Block(ITEM, "", tuple(t for _, t in path), list_depth))
        elif kind == "list_item_close":
            in_item -= 1
        elif kind == "heading_open":
            heading_level = int(token.tag[1])
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            cells = [c for c in row if c]
            if cells:
                blocks.append(Block(ROW, " | ".join(cells), tuple(t for _, t in path)))
            row = None
        elif kind == "inline":
            content = clean_display(_inline_markdown(token))
            if row is not None:
                row.append(content)
            elif heading_level:
                if content:
                    while path and path[-1][0] >= heading_level:
                        path.pop()
                    blocks.append(Block(HEADING, content, tuple(t for _, t in path),
                                        heading_level))
                    path.append((heading_level, content))
                heading_level = 0
            elif not content:
                continue
            elif in_item and blocks and blocks[-1].kind == ITEM and not blocks[-1].text:
                last = blocks[-1]
                blocks[-1] = Block(ITEM, content, last.section, last.level)
            else:
                blocks.append(Block(PARAGRAPH, content, tuple(t for _, t in path)))
        elif kind in ("html_block", "code_block", "fence"):
            content = clean_display(_HTML_TAG.sub(" ", token.content))
            if content:
                blocks.append(Block(PARAGRAPH, content, tuple(t for _, t in path)))
    blocks = [b for b in blocks if b.text and not _COPYRIGHT.match(b.text)]
    return Document(blocks)


def _inline_markdown(token) -> str:
    """Text of an inline token: link and image targets dropped, emphasis markers gone."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
        elif child.type == "html_inline" and child.content.lower().startswith("<br"):
            parts.append(" ")
    return "".join(parts)


def parse_plain_text(text: str) -> Document:
    """Plain text: blank-line separated paragraphs; short title-like lines become headings."""
    blocks: list[Block] = []
    path: list[str] = []
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        content = clean_display(chunk)
        if not content:
            continue
        lines = chunk.strip().splitlines()
        if (len(lines) == 1 and len(content) < 80 and not content.endswith((".", ",", ";", ":"))
                and content[:1].isupper() and len(content.split()) <= 10):
            path = [content]
            blocks.append(Block(HEADING, content, (), 1))
        else:
            blocks.append(Block(PARAGRAPH, content, tuple(path)))
    return Document(blocks)


HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt", ".text"}


def normalize_file(path: Path) -> Document:
    """Read a local file and normalize it by its suffix (HTML, Markdown or plain text)."""
    suffix = path.suffix.lower()
    if not suffix and not path.exists():
        raise NormalizeError(f"{path}: no such file")
    if suffix not in HTML_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES:
        raise NormalizeError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; "
            "use .html/.htm, .md/.markdown or .txt")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NormalizeError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NormalizeError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise NormalizeError(f"{path}: cannot read ({exc.strerror})") from None
    if suffix in HTML_SUFFIXES:
        from .charset import decode_html

        return normalize_html(decode_html(data, None))
    text = data.decode("utf-8", errors="replace")
    if suffix in MARKDOWN_SUFFIXES:
        return parse_markdown(text)
    # Plain text written by `tracker show` is our own Markdown dialect; read it as Markdown.
    return parse_markdown(text) if text.lstrip().startswith("#") else parse_plain_text(text)
