"""Sandboxed Jinja rendering of email and SMS templates.

Marketers write these templates, so they render in Jinja's immutable sandbox: ``{{ ''.__class__ }}`` and friends
reach no Python internals, and anything the sandbox refuses becomes a TemplateError naming the line, never a 500.
Each render runs within a budget (:mod:`retainful.rendering.budget`): a template that would loop or allocate past it
stops with TemplateTooExpensive.
Sources come from the store's latest override, else the file defaults in email_templates/ and sms_templates/.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from html import unescape
from functools import lru_cache
from typing import Any, Container, Iterator
from zoneinfo import ZoneInfo

import css_inline
from babel.core import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_currency
from jinja2 import FileSystemLoader, TemplateNotFound, TemplateSyntaxError, Undefined, pass_context, select_autoescape
from jinja2.exceptions import SecurityError, TemplateError as JinjaError, UndefinedError

from retainful.channels import channel as channel_named
from retainful.errors import FieldError
from retainful.messaging.sms_encoding import segment_count
from retainful.rendering import budget
from retainful.rendering.budget import BudgetedEnvironment, OverBudget
from retainful.users import LANGUAGES

OPT_OUT = "Reply STOP to opt out"
SMS_SEGMENT_WARNING = 2
MAX_AMOUNT = Decimal(10) ** 15  # what the money filter formats; beyond it is no price
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


class TemplateError(FieldError):
    """A template that cannot be rendered: a syntax error (with its line) or something the sandbox refused.
    ``line``: the source line at fault when known (the code editor marks it)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__("source", message)
        self.line = line

    @property
    def reason(self) -> str:
        """What a failed message records after "template: "."""
        return self.message


class TemplateTooExpensive(TemplateError):
    """A template that would loop, allocate or run past the render budget (see :mod:`~retainful.rendering.budget`)."""

    code = "template_too_expensive"
    reason = "too expensive"

    def __init__(self):
        super().__init__(f"too expensive: the template would loop, allocate or run past the render budget "
                         f"({budget.SECONDS:g} s, {budget.MAX_STEPS:,} loop iterations and calls, "
                         f"{budget.MAX_VALUE:,} characters in any value or the output)")


@dataclass(frozen=True)
class EmailRendering:
    subject: str
    html: str
    text: str
    preheader: str = ""  # the inbox's preview text after the subject (the ``preheader`` block)


@dataclass(frozen=True)
class SmsRendering:
    text: str
    encoding: str
    segments: int
    characters: int
    warnings: list[str] = field(default_factory=list)


def template_keys(channel: str) -> list[str]:
    """The keys of the file defaults, e.g. ``abandoned_cart/step1`` and its Korean variant ``abandoned_cart/step1.ko``
    (from ``step1.ko.html``); the only keys a store may override."""
    return list(_file_keys(channel))


@lru_cache(maxsize=None)
def _file_keys(channel: str) -> tuple[str, ...]:
    """Read once per process: a send asks for its key's locale variants, and the files change only with a release."""
    medium = channel_named(channel)
    base, ext = medium.template_dir, medium.template_extension
    return tuple(sorted(p.relative_to(base).as_posix()[: -len(ext)] for p in base.rglob(f"*{ext}")
                        if not p.name.startswith(("_", "layout"))))


# A locale variant's key ends in its locale: ".ko", ".pt_BR" (the file abandoned_cart/step1.ko.html).
_VARIANT = re.compile(r"\.([a-z]{2,3}(?:_[A-Z]{2})?)$")


def key_locale(key: str) -> str | None:
    """"abandoned_cart/step1.ko" -> "ko"; None for a default key (the English source)."""
    found = _VARIANT.search(key)
    return found.group(1) if found else None


def localized_key(channel: str, key: str, locale: str | None,
                  overrides: Container[tuple[str, str]] = ()) -> str:
    """The variant of ``key`` for the shopper's locale: ``key.ko_KR``, else ``key.ko``, else ``key`` (the default).
    A variant is a file, or one of the store's ``overrides`` in force (a language version it added)."""
    if not locale:
        return key
    language, _, country = str(locale).replace("-", "_").partition("_")
    keys = _file_keys(channel)
    candidates = ([f"{key}.{language.lower()}_{country.upper()}"] if country else []) + [f"{key}.{language.lower()}"]
    return next((candidate for candidate in candidates
                 if candidate in keys or (channel, candidate) in overrides), key)


SOURCE_LANGUAGE = "en"  # the file defaults' language
VARIANT_LOCALES = tuple(code for code in LANGUAGES if code != SOURCE_LANGUAGE)  # what a store may add a version in


def added_variant_base(channel: str, key: str) -> str | None:
    """The default a store's own language version stands on ("win_back/step1.ko" -> "win_back/step1"): a default
    key with no file in that locale, the locale one the admin speaks; None for any other key."""
    locale = key_locale(key)
    if locale not in VARIANT_LOCALES or key in _file_keys(channel):
        return None
    base = key[: -len(locale) - 1]
    return base if base in _file_keys(channel) and key_locale(base) is None else None


def is_template_key(channel: str, key: str) -> bool:
    """A key a store may edit: a file's, or a language version of a default it may add."""
    return key in _file_keys(channel) or added_variant_base(channel, key) is not None


def variant_key(channel: str, key: str, locale: Any) -> str:
    """The key of ``key``'s version in ``locale`` (the admin's "Add a language version"); FieldError naming
    ``locale`` unless it is one of :data:`VARIANT_LOCALES`, naming ``template`` unless ``key`` is a default."""
    if not isinstance(locale, str) or locale not in VARIANT_LOCALES:
        raise FieldError("locale", f"must be one of {', '.join(VARIANT_LOCALES)}")
    if key not in _file_keys(channel) or key_locale(key) is not None:
        raise FieldError("template", f"No default {channel} template {key!r} to add a language version of.")
    return f"{key}.{locale}"


def _file_key(channel: str, key: str) -> str:
    """The file a key renders when the store has no source of its own: an added version's is its default's."""
    return added_variant_base(channel, key) or key


def default_source(channel: str, key: str) -> str:
    """The file's source; an added language version starts as (and is reset to) its default's."""
    if not is_template_key(channel, key):
        raise FieldError("template", f"No {channel} template {key!r}.")
    medium = channel_named(channel)
    return (medium.template_dir / f"{_file_key(channel, key)}{medium.template_extension}").read_text(encoding="utf-8")


def _locale(context) -> Locale:
    return _parsed_locale(context.get("locale") or "en_US")


@lru_cache(maxsize=256)
def _parsed_locale(name: str) -> Locale:
    """Parsed once per name: every amount and date of every message asks for it."""
    try:
        return Locale.parse(str(name).replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en_US")


@pass_context
def _money(context, amount: Any, currency: str | None = None) -> str:
    """An amount in the cart's currency (or the one named) for the shopper's locale: "$36.95", "36,95 €"."""
    if amount is None or amount == "" or isinstance(amount, Undefined):  # ``cart.total`` of an email without a cart
        return ""
    value = Decimal(str(amount))
    if not value.is_finite() or abs(value) >= MAX_AMOUNT:
        raise ValueError(f"money needs an amount below {MAX_AMOUNT:,.0f}")
    return _formatted_money(value, str(currency or context.get("currency") or "USD"), _locale(context))


@lru_cache(maxsize=4096)
def _formatted_money(amount: Decimal, currency: str, locale: Locale) -> str:
    """Catalogue prices repeat from message to message, and babel's formatting is the costly part of a render."""
    return format_currency(amount, currency, locale=locale)


@pass_context
def _datetime(context, value: Any, format: str = "medium") -> str:  # noqa: A002 - Jinja filter argument name
    """A time in the store's zone for the shopper's locale."""
    if not isinstance(value, datetime):
        return ""
    zone = ZoneInfo(context.get("timezone") or "UTC")
    return format_datetime(value.astimezone(zone), format=format, locale=_locale(context))


@lru_cache(maxsize=None)
def _environment(channel: str) -> BudgetedEnvironment:
    """One environment per channel, so compiled file templates are cached (compiling costs far more than rendering);
    the filters read the shopper's locale, currency and zone from each render's context."""
    return BudgetedEnvironment(
        loader=FileSystemLoader(str(channel_named(channel).template_dir)),
        autoescape=select_autoescape(["html"], default_for_string=channel_named(channel).autoescape),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
        filters={"money": _money, "datetime": _datetime},
    )


@lru_cache(maxsize=512)
def _compiled_override(channel: str, source: str):
    """A store's override, compiled once per distinct source (it may extend the file layout and include partials)."""
    return _environment(channel).from_string(source)


def _error(error: Exception) -> TemplateError:
    if isinstance(error, TemplateSyntaxError):
        return TemplateError(f"line {error.lineno}: {error.message}", error.lineno)
    line = _template_line(error)
    if isinstance(error, SecurityError):
        return TemplateError(f"not allowed in templates: {error}", line)
    if isinstance(error, TemplateNotFound):
        return TemplateError(f"no template named {error.name!r}", line)
    return TemplateError(str(error) or type(error).__name__, line)


def _template_line(error: Exception) -> int | None:
    """The line of an edited template (compiled from a string: ``<template>``) where a render failed; Jinja
    rewrites the traceback so its frames carry template lines."""
    line, frame = None, error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


# What a render may raise besides the budget: the sandbox's refusals and the template's own bad arithmetic or types.
RENDER_ERRORS = (JinjaError, UndefinedError, RuntimeError, TypeError, ValueError, ArithmeticError)  # RecursionError too


def _compiled(channel: str, key: str, source: str | None):
    """Python's own limits on nesting (20 loops, 100 indents) surface as SyntaxError when Jinja compiles."""
    try:
        if source is None:
            name = f"{_file_key(channel, key)}{channel_named(channel).template_extension}"
            return _environment(channel).get_template(name)
        return _compiled_override(channel, source)
    except (JinjaError, RecursionError) as error:
        raise _error(error) from None
    except SyntaxError:
        raise TemplateError("blocks are nested too deeply for the template to compile") from None


@contextmanager
def _budgeted() -> Iterator[None]:
    """The render budget around a compile and render; MemoryError is the same failure, reached the hard way."""
    try:
        with budget.scope():
            yield
    except TemplateError:
        raise
    except (OverBudget, MemoryError):
        raise TemplateTooExpensive() from None
    except RENDER_ERRORS as error:
        raise _error(error) from None


def render_email(key: str, context: dict[str, Any], source: str | None = None) -> EmailRendering:
    """Subject (the template's ``subject`` block), HTML with its CSS inlined, and a plain-text part."""
    with _budgeted():
        template = _compiled("email", key, source)
        subject = _block_text(template, "subject", context)
        preheader = _block_text(template, "preheader", context)
        html = template.render(context)
    if not subject:
        raise TemplateError("the email needs a subject: {% block subject %}...{% endblock %}")
    return EmailRendering(subject, _inliner.inline(html), html_to_text(html), preheader)


def _block_text(template, name: str, context: dict[str, Any]) -> str:
    """One block of the template as one line of plain text ("" when the template has no such block)."""
    block = template.blocks.get(name)
    if block is None:
        return ""
    return " ".join(unescape(template.environment.concat(block(template.new_context(context)))).split())


def render_sms(key: str, context: dict[str, Any], source: str | None = None) -> SmsRendering:
    """One clean line, the opt-out line added when the template lacks it, with its encoding and segment count."""
    with _budgeted():
        text = " ".join(_compiled("sms", key, source).render(context).split())
    if "stop" not in text.lower():
        text = f"{text} {OPT_OUT}".strip()
    encoding, segments, characters = segment_count(text)
    warnings = []
    if segments > SMS_SEGMENT_WARNING:
        warnings.append(f"{segments} segments ({characters} characters, {encoding}): each segment is billed; "
                        f"keep it to {SMS_SEGMENT_WARNING} or fewer.")
    return SmsRendering(text, encoding, segments, characters, warnings)


def render_text(source: str, context: dict[str, Any]) -> str:
    """A short text with merge variables (an agent's reply, a canned reply): the sandbox and budget of every
    template, no layout and no opt-out line added (the reply template adds what its channel needs)."""
    with _budgeted():
        return _compiled("sms", "", source).render(context).strip()


# Every pattern below runs in linear time on any input: a tag never spans a "<", so an unclosed one costs one scan
# to the next "<", and what has no end runs to the end of the text once. (Rendered attribute values are escaped.)
# Markup whose content is not text: comments (Outlook's conditional blocks included), the head, styles and scripts.
_HIDDEN = re.compile(r"<(?:!--.*?(?:-->|\Z)|(head|title|style|script)\b[^<>]*>.*?(?:</\1\s*>|\Z))", re.S | re.I)
_LINK = re.compile(r"<(/?)a(?:\s[^<>]*)?>", re.I)
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_BLOCK = re.compile(r"</?(?:p|div|br|tr|h[1-4]|li|table)\b[^<>]*>", re.I)
_TAG = re.compile(r"<[!?/]?[a-zA-Z][^<>]*>")
_INVISIBLE = re.compile("[\u034f\u200b\u200c\u200d\u2060\ufeff\u00ad]+")  # a C scan, not a dict per char


def _links_with_addresses(html: str) -> str:
    """A link that leads somewhere keeps its address after its text: "Return to your cart (https://...)"."""
    open_links: list[str | None] = []

    def replace(tag: re.Match) -> str:
        if not tag.group(1):
            href = _HREF.search(tag.group(0))
            open_links.append(unescape(next(g for g in href.groups() if g is not None)) if href else None)
            return ""
        href = open_links.pop() if open_links else None
        return f" ({href})" if href and href.startswith(("http://", "https://")) else ""

    return _LINK.sub(replace, html)


def html_to_text(html: str) -> str:
    """HTML to readable plain text: block elements become line breaks, links keep their address, images and other
    markup go. A few C-speed substitutions rather than a parser: this runs for every email sent."""
    text = _links_with_addresses(_HIDDEN.sub("", html))
    text = unescape(_TAG.sub("", _BLOCK.sub("\n", text)))
    lines = (" ".join(line.split()) for line in _INVISIBLE.sub("", text).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
