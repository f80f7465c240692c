"""The visual editor's emails: a list of blocks that is written as ordinary template source and read back from it.

A document is ``{"subject", "preheader", "blocks": [{"type": ..., field: value}]}``. :func:`to_source` writes it
as a child of ``layout.html`` whose content is marked sections (``{# block:heading #}`` … ``{# /block #}``), so the
engine renders it like any other template and nothing downstream knows it came from blocks. :func:`from_source`
reads such source back, and only when writing the blocks again gives the very same source: text edited by hand into
something the blocks cannot say (markup, a loop) stays source, and the editor opens it in code mode.

Text fields hold plain words and merge variables (``{{ customer.first_name }}``, from
:mod:`~retainful.rendering.variables` only). The words are HTML-escaped and their braces written as character
references, so a marketer's text can never open a Jinja tag; links are https, the app's own, or a link variable.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from retainful.errors import FieldError
from retainful.rendering.variables import BY_EXPRESSION
from retainful.urls import PublicUrls
from retainful.words import N_

MAX_BLOCKS = 60
MAX_TEXT = 5_000  # characters in a text block
MAX_LINE = 300  # subject, preheader, heading, labels
MAX_URL = 2_000
HEADER = ("{#- Made in the visual editor: it opens there again as long as its blocks keep this shape "
          "(retainful blocks v1). -#}")

_CANDIDATE = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)  # anything a marketer typed that looks like a variable
_TOKEN = re.compile("|".join(re.escape(variable.token) for variable in
                             sorted(BY_EXPRESSION.values(), key=lambda v: -len(v.token))))
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")  # control characters and lone surrogates
_URL_UNSAFE = re.compile(r"[\s\"'<>\\{}`]")


# --- text --------------------------------------------------------------------------------------------------------

def _around_variables(text: str, words: Callable[[str], str]) -> str:
    """``words`` applied to the text between the merge variables, which stay as they are."""
    parts, last = [], 0
    for token in _TOKEN.finditer(text):
        parts += [words(text[last:token.start()]), token.group(0)]
        last = token.end()
    parts.append(words(text[last:]))
    return "".join(parts)


def _encoded(value: str) -> str:
    """Words escaped for HTML, their braces as character references and line breaks as ``<br>``."""
    return _around_variables(value, lambda words: html.escape(words).replace("{", "&#123;").replace("}", "&#125;")
                             .replace("\n", "<br>\n"))


def _decoded(source: str) -> str:
    return _around_variables(source, lambda words: html.unescape(words.replace("<br>\n", "\n")))


def _checked_text(value: Any, field: str, *, limit: int, required: bool, lines: bool = False) -> str:
    """A text field as stored: a string of words and known merge variables, written the one way they are written."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FieldError(field, N_("Must be text."))
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _FORBIDDEN.search(value):
        raise FieldError(field, N_("Contains characters that cannot be sent (control characters or broken Unicode)."))
    if not lines:
        value = " ".join(value.split("\n"))
    value = value.strip()
    if len(value) > limit:
        raise FieldError(field, N_("Too long: at most %(limit)s characters.", limit=f"{limit:,}"))
    if required and not value:
        raise FieldError(field, N_("Required."))

    def canonical(match: re.Match) -> str:
        variable = BY_EXPRESSION.get(" ".join(match.group(1).split()))
        if variable is None:
            raise FieldError(field, N_("%(text)s is not a merge variable: pick one from the list.",
                                        text=match.group(0)[:60]))
        return variable.token

    return _CANDIDATE.sub(canonical, value)


def _checked_url(value: Any, field: str, urls: PublicUrls, *, required: bool, variables: bool = True) -> str:
    """An https address, one of the app's own (the sample images), or (``variables``) a link merge variable."""
    text = _checked_text(value, field, limit=MAX_URL, required=required)
    if not text:
        return ""
    variable = BY_EXPRESSION.get(text[3:-3]) if text.startswith("{{ ") and text.endswith(" }}") else None
    if variable is not None:
        if variables and variable.url:
            return text
        raise FieldError(field, N_("Use a link variable (such as the link back to the cart) or an https address."))
    try:
        parts = urlsplit(text)
        https = parts.scheme == "https" and bool(parts.hostname)
    except ValueError:
        https = False
    if _URL_UNSAFE.search(text) or not (https or text.startswith(urls.base_url + "/")):
        raise FieldError(field, N_("Must be an https:// address or a link variable.") if variables
                         else N_("Must be an https:// address."))
    return text


# --- block types -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # "text" (several lines), "line", "url" (a link or a link variable), "image" (an image address)
    required: bool = False


@dataclass(frozen=True)
class BlockType:
    """One kind of block: its fields, how it is written (``write``: checked fields -> source) and a pattern that
    reads it back (named groups = its fields, decoded as text)."""

    name: str
    label: str
    fields: tuple[Field, ...]
    write: Callable[[dict[str, str]], str]
    patterns: tuple[re.Pattern, ...]

    def checked(self, block: dict, path: str, urls: PublicUrls) -> dict[str, str]:
        unknown = sorted(set(block) - {"type"} - {f.name for f in self.fields})
        if unknown:
            raise FieldError(f"{path}.{unknown[0]}", f"A {self.name} block has no field {unknown[0][:40]!r}.")
        fields = {}
        for spec in self.fields:
            where = f"{path}.{spec.name}"
            value = block.get(spec.name)
            if spec.kind in ("url", "image"):
                fields[spec.name] = _checked_url(value, where, urls, required=spec.required,
                                                 variables=spec.kind == "url")
            else:
                fields[spec.name] = _checked_text(value, where, required=spec.required, lines=spec.kind == "text",
                                                  limit=MAX_TEXT if spec.kind == "text" else MAX_LINE)
        return {"type": self.name, **fields}

    def read(self, body: str) -> dict[str, str] | None:
        for pattern in self.patterns:
            match = pattern.fullmatch(body)
            if match:
                groups = {name: _decoded(value) for name, value in match.groupdict().items() if value is not None}
                return {"type": self.name, **{f.name: groups.get(f.name, "") for f in self.fields}}
        return None


_ANY = r"(?P<{}>[^\n]*?)"
_LINES = r"(?P<{}>.*?)"
DIVIDER = '<hr style="border:0;border-top:1px solid #e5e7eb;margin:24px 0;">'
IMAGE_STYLE = "display:block;width:100%;max-width:536px;height:auto;border:0;border-radius:4px;"


def _pattern(*pieces: str) -> re.Pattern:
    """A block's shape: literal pieces and ``(name)`` / ``[name]`` fields (one line / several)."""
    out = []
    for piece in pieces:
        if piece.startswith("(") and piece.endswith(")"):
            out.append(_ANY.format(piece[1:-1]))
        elif piece.startswith("[") and piece.endswith("]"):
            out.append(_LINES.format(piece[1:-1]))
        else:
            out.append(re.escape(piece))
    return re.compile("".join(out), re.S)


def _image(fields: dict[str, str]) -> str:
    img = f'<img src="{_encoded(fields["src"])}" alt="{_encoded(fields["alt"])}" width="536" style="{IMAGE_STYLE}">'
    if fields["href"]:
        return f'<p><a href="{_encoded(fields["href"])}" target="_blank">{img}</a></p>'
    return f"<p>{img}</p>"


def _button(fields: dict[str, str]) -> str:
    return (f'{{% set button_url %}}{_encoded(fields["url"])}{{% endset %}}'
            f'{{% set button_label %}}{_encoded(fields["label"])}{{% endset %}}'
            "{{ button(button_url, button_label) }}")


_IMG = ['<img src="', "(src)", '" alt="', "(alt)", f'" width="536" style="{IMAGE_STYLE}">']
BLOCK_TYPES: dict[str, BlockType] = {t.name: t for t in (
    BlockType("heading", N_("Heading"), (Field("text", N_("Heading"), "line", required=True),),
              lambda f: f"<h1>{_encoded(f['text'])}</h1>", (_pattern("<h1>", "(text)", "</h1>"),)),
    BlockType("text", N_("Text"), (Field("text", N_("Text"), "text", required=True),),
              lambda f: f"<p>{_encoded(f['text'])}</p>", (_pattern("<p>", "[text]", "</p>"),)),
    BlockType("items", N_("Product list (the cart's items and total)"), (),
              lambda f: '{% include "_items.html" %}', (_pattern('{% include "_items.html" %}'),)),
    BlockType("coupon", N_("Coupon (shown when the message carries one)"), (),
              lambda f: '{% include "_coupon.html" %}', (_pattern('{% include "_coupon.html" %}'),)),
    BlockType("button", N_("Button"), (Field("label", N_("Label"), "line", required=True),
                                       Field("url", N_("Link"), "url", required=True)),
              _button, (_pattern("{% set button_url %}", "(url)", "{% endset %}{% set button_label %}", "(label)",
                                 "{% endset %}{{ button(button_url, button_label) }}"),)),
    BlockType("image", N_("Image"), (Field("src", N_("Image address (https)"), "image", required=True),
                                     Field("alt", N_("Description (for screen readers and blocked images)"), "line"),
                                     Field("href", N_("Link (optional)"), "url")),
              _image, (_pattern("<p>", '<a href="', "(href)", '" target="_blank">', *_IMG, "</a></p>"),
                       _pattern("<p>", *_IMG, "</p>"))),
    BlockType("divider", N_("Divider"), (), lambda f: DIVIDER, (_pattern(DIVIDER),)),
    BlockType("footer", N_("Footer (why the shopper gets this email)"),
              (Field("text", N_("Footer text"), "line", required=True),),
              lambda f: _encoded(f["text"]), (_pattern("(text)"),)),
)}


def schema() -> list[dict[str, Any]]:
    """The block types and their fields, for the visual editor's script."""
    return [{"type": t.name, "label": t.label,
             "fields": [{"name": f.name, "label": f.label, "kind": f.kind, "required": f.required} for f in t.fields]}
            for t in BLOCK_TYPES.values()]


# --- documents ---------------------------------------------------------------------------------------------------

def checked(document: Any, urls: PublicUrls) -> dict[str, Any]:
    """The document as it is stored: every field checked and written its one way; a FieldError names the first
    bad field (``subject``, ``blocks.2.url``)."""
    if not isinstance(document, dict):
        raise FieldError("document", "Must be an object with subject, preheader and blocks.")
    unknown = sorted(set(document) - {"subject", "preheader", "blocks"})
    if unknown:
        raise FieldError(unknown[0][:40], "Not a field of an email: send subject, preheader and blocks.")
    blocks = document.get("blocks")
    if not isinstance(blocks, list):
        raise FieldError("blocks", "Must be a list of blocks.")
    if len(blocks) > MAX_BLOCKS:
        raise FieldError("blocks", N_("At most %(max)s blocks.", max=MAX_BLOCKS))
    out = []
    for index, block in enumerate(blocks):
        path = f"blocks.{index}"
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(kind, str) or kind not in BLOCK_TYPES:
            raise FieldError(f"{path}.type", "Must be one of: " + ", ".join(BLOCK_TYPES) + ".")
        if kind == "footer" and index != len(blocks) - 1:
            raise FieldError(f"{path}.type", N_("The footer is the last block, and there is one at most."))
        out.append(BLOCK_TYPES[kind].checked(block, path, urls))
    return {"subject": _checked_text(document.get("subject"), "subject", limit=MAX_LINE, required=True),
            "preheader": _checked_text(document.get("preheader"), "preheader", limit=MAX_LINE, required=False),
            "blocks": out}


def to_source(document: Any, urls: PublicUrls) -> str:
    """Template source for the engine (``{% extends "layout.html" %}``), after :func:`checked`."""
    document = checked(document, urls)
    body, footer = [], None
    for block in document["blocks"]:
        source = BLOCK_TYPES[block["type"]].write(block)
        if block["type"] == "footer":
            footer = source
        else:
            body.append(f"{{# block:{block['type']} #}}\n{source}\n{{# /block #}}\n")
    lines = [HEADER, '{% extends "layout.html" %}',
             f"{{% block subject %}}{_encoded(document['subject'])}{{% endblock %}}",
             f"{{% block preheader %}}{_encoded(document['preheader'])}{{% endblock %}}",
             "{% block content %}", '{%- from "_button.html" import button %}', "".join(body) + "{%- endblock %}"]
    if footer is not None:
        lines.append(f"{{% block footer_reason %}}{footer}{{% endblock %}}")
    return "\n".join(lines) + "\n"


_DOCUMENT = re.compile(
    re.escape(HEADER + '\n{% extends "layout.html" %}\n{% block subject %}') + r"(?P<subject>[^\n]*?)"
    + re.escape("{% endblock %}\n{% block preheader %}") + r"(?P<preheader>[^\n]*?)"
    + re.escape('{% endblock %}\n{% block content %}\n{%- from "_button.html" import button %}\n')
    + r"(?P<body>.*?)" + re.escape("{%- endblock %}\n")
    + r"(?:" + re.escape("{% block footer_reason %}") + r"(?P<footer>[^\n]*?)" + re.escape("{% endblock %}\n") + ")?",
    re.S)
_SECTION = re.compile(r"\{# block:(\w+) #\}\n(.*?)\n\{# /block #\}\n", re.S)


def from_source(source: str, urls: PublicUrls) -> dict[str, Any] | None:
    """The document that :func:`to_source` writes as exactly this source (line endings aside), else None."""
    if not isinstance(source, str) or not source.startswith(HEADER):
        return None
    text = source.replace("\r\n", "\n").rstrip("\n") + "\n"
    match = _DOCUMENT.fullmatch(text)
    if match is None:
        return None
    blocks, position, body = [], 0, match.group("body")
    while position < len(body):  # section after section, each matched where the last ended: linear in the source
        section = _SECTION.match(body, position)
        kind = BLOCK_TYPES.get(section.group(1)) if section else None
        block = kind.read(section.group(2)) if kind and kind.name != "footer" else None
        if block is None:
            return None
        blocks.append(block)
        position = section.end()
    if match.group("footer") is not None:
        blocks.append(BLOCK_TYPES["footer"].read(match.group("footer")))
    document = {"subject": _decoded(match.group("subject")), "preheader": _decoded(match.group("preheader")),
                "blocks": blocks}
    try:
        return document if to_source(document, urls) == text else None
    except FieldError:
        return None


def starter(key: str) -> dict[str, Any]:
    """A first visual design for a template: greeting, the cart, the coupon and a way back."""
    cart = key.startswith("abandoned_cart/")
    return {
        "subject": "You left something at {{ store.name }}" if cart else "News from {{ store.name }}",
        "preheader": "Your cart is saved, ready when you are." if cart else "",
        "blocks": [
            {"type": "heading", "text": "You left something behind" if cart else "Hello from {{ store.name }}"},
            {"type": "text", "text": 'Hi {{ customer.first_name or "there" }},\nWe saved your cart, so you can '
                                     "pick up right where you left off." if cart else
                                     'Hi {{ customer.first_name or "there" }},'},
            {"type": "items"},
            {"type": "coupon"},
            {"type": "button", "label": "Return to your cart" if cart else "Visit the store",
             "url": "{{ recovery_url }}" if cart else "{{ store.url }}"},
        ],
    }
