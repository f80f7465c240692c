"""Sandboxed Jinja rendering of email and SMS templates.

Marketers write these templates, so they render in Jinja's immutable sandbox: ``{{ ''.__class__ }}`` and friends
reach no Python internals, and anything the sandbox refuses becomes a TemplateError naming the line, never a 500.
Sources come from the store's latest override, else the file defaults in email_templates/ and sms_templates/.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import css_inline
from babel.core import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_currency
from jinja2 import BaseLoader, FileSystemLoader, TemplateNotFound, TemplateSyntaxError, select_autoescape
from jinja2.exceptions import SecurityError, TemplateError as JinjaError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from retainful.errors import FieldError
from retainful.messaging.sms_encoding import segment_count

ROOT = Path(__file__).resolve().parent.parent.parent
CHANNELS = ("email", "sms")
TEMPLATE_DIRS = {"email": ROOT / "email_templates", "sms": ROOT / "sms_templates"}
EXTENSIONS = {"email": ".html", "sms": ".txt"}
OPT_OUT = "Reply STOP to opt out"
SMS_SEGMENT_WARNING = 2
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


class TemplateError(FieldError):
    """A template that cannot be rendered: a syntax error (with its line) or something the sandbox refused."""

    def __init__(self, message: str):
        super().__init__("source", message)


@dataclass(frozen=True)
class EmailRendering:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class SmsRendering:
    text: str
    encoding: str
    segments: int
    characters: int
    warnings: list[str] = field(default_factory=list)


def template_keys(channel: str) -> list[str]:
    """The keys of the file defaults, e.g. ``abandoned_cart/step1``; the only keys a store may override."""
    base, ext = TEMPLATE_DIRS[channel], EXTENSIONS[channel]
    return sorted(str(p.relative_to(base))[: -len(ext)] for p in base.rglob(f"*{ext}")
                  if not p.name.startswith(("_", "layout")))


def default_source(channel: str, key: str) -> str:
    if key not in template_keys(channel):
        raise FieldError("template", f"No {channel} template {key!r}.")
    return (TEMPLATE_DIRS[channel] / f"{key}{EXTENSIONS[channel]}").read_text(encoding="utf-8")


class _Formatter:
    """The ``money`` and ``datetime`` filters, bound to the shopper's locale, the cart's currency, the store's zone."""

    def __init__(self, locale: str | None, currency: str, timezone: str):
        try:
            self.locale = Locale.parse((locale or "en_US").replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            self.locale = Locale.parse("en_US")
        self.currency, self.zone = currency, ZoneInfo(timezone)

    def money(self, amount: Any, currency: str | None = None) -> str:
        if amount is None or amount == "":
            return ""
        return format_currency(Decimal(str(amount)), currency or self.currency, locale=self.locale)

    def datetime(self, value: Any, format: str = "medium") -> str:  # noqa: A002 - Jinja filter argument name
        if not isinstance(value, datetime):
            return ""
        return format_datetime(value.astimezone(self.zone), format=format, locale=self.locale)


def _environment(channel: str, formatter: _Formatter, override: Callable[[str], str | None]):
    class Loader(BaseLoader):
        """The store's override for the rendered key, the files for everything else (layout, includes)."""

        files = FileSystemLoader(str(TEMPLATE_DIRS[channel]))

        def get_source(self, environment, template):
            source = override(template)
            if source is not None:
                return source, None, lambda: False
            return self.files.get_source(environment, template)

    env = ImmutableSandboxedEnvironment(
        loader=Loader(), autoescape=select_autoescape(["html"]) if channel == "email" else False,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
    )
    env.filters["money"] = formatter.money
    env.filters["datetime"] = formatter.datetime
    return env


def _error(error: Exception) -> TemplateError:
    if isinstance(error, TemplateSyntaxError):
        return TemplateError(f"line {error.lineno}: {error.message}")
    if isinstance(error, SecurityError):
        return TemplateError(f"not allowed in templates: {error}")
    if isinstance(error, TemplateNotFound):
        return TemplateError(f"no template named {error.name!r}")
    return TemplateError(str(error) or type(error).__name__)


def _render(channel: str, key: str, source: str | None, context: dict[str, Any]):
    filename = f"{key}{EXTENSIONS[channel]}"
    cart = context.get("cart")
    formatter = _Formatter(context.get("locale"), cart.currency if cart else context.get("currency", "USD"),
                           context.get("timezone", "UTC"))
    env = _environment(channel, formatter, lambda name: source if name == filename else None)
    try:
        template = env.get_template(filename)
        return template, template.new_context(context), env
    except (JinjaError, RecursionError) as error:
        raise _error(error) from None


def render_email(key: str, context: dict[str, Any], source: str | None = None) -> EmailRendering:
    """Subject (the template's ``subject`` block), HTML with its CSS inlined, and a plain-text part."""
    template, ctx, _ = _render("email", key, source, context)
    try:
        subject_block = template.blocks.get("subject")
        subject = " ".join(unescape("".join(subject_block(ctx))).split()) if subject_block else ""
        html = template.render(context)
    except (JinjaError, UndefinedError, RecursionError, TypeError, ValueError, ArithmeticError) as error:
        raise _error(error) from None
    if not subject:
        raise TemplateError("the email needs a subject: {% block subject %}...{% endblock %}")
    return EmailRendering(subject, _inliner.inline(html), html_to_text(html))


def render_sms(key: str, context: dict[str, Any], source: str | None = None) -> SmsRendering:
    """One clean line, the opt-out line added when the template lacks it, with its encoding and segment count."""
    template, _, _ = _render("sms", key, source, context)
    try:
        text = " ".join(template.render(context).split())
    except (JinjaError, UndefinedError, RecursionError, TypeError, ValueError, ArithmeticError) as error:
        raise _error(error) from None
    if "stop" not in text.lower():
        text = f"{text} {OPT_OUT}".strip()
    encoding, segments, characters = segment_count(text)
    warnings = []
    if segments > SMS_SEGMENT_WARNING:
        warnings.append(f"{segments} segments ({characters} characters, {encoding}): each segment is billed; "
                        f"keep it to {SMS_SEGMENT_WARNING} or fewer.")
    return SmsRendering(text, encoding, segments, characters, warnings)


class _TextExtractor(HTMLParser):
    """HTML to readable plain text: block elements become line breaks, links keep their address, images go."""

    BLOCKS = {"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "li", "table", "title"}
    SKIP = {"style", "script", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.href: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            self.href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        if tag == "a" and self.href:
            href = self.href.pop()
            if href and href.startswith("http"):
                self.parts.append(f" ({href})")
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


# Invisible characters that email layouts use to pad the inbox preview text.
_INVISIBLE = dict.fromkeys(map(ord, "\u034f\u200b\u200c\u200d\u2060\ufeff\u00ad"))


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).translate(_INVISIBLE).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
