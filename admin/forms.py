"""Reading posted form fields: whole numbers, amounts, check boxes, optional text. Errors name the field."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Mapping

from flask import request
from flask_babel import gettext as _

from retainful_admin.i18n import word
from retainful.errors import FieldError
from retainful.money import MAX_AMOUNT, MONEY_STEP
from retainful.text import refuse_unstorable_fields

TRUE_VALUES = {"1", "on", "true", "yes", "y"}


class FormFieldError(FieldError):
    """A posted field that is not what it must be: ``message`` leads with the field's label (one error for the
    page), ``reason`` does not (the error shown at the field, beside its label)."""

    def __init__(self, name: str, label: str | None, reason: str):
        super().__init__(name, f"{label or name}: {reason}")
        self.reason = reason


def sentence(reason: str) -> str:
    """A reason shown at its field as a sentence ("must be ..." -> "Must be ....")."""
    reason = reason.strip()
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith((".", "?", "!")) else ".")


def field_message(error: FieldError) -> str:
    """What to show at the refused field (beside its label, so without it), as a sentence in the reader's language."""
    return sentence(word(getattr(error, "reason", error.message)))


def text(form: Mapping[str, str], name: str) -> str | None:
    """Trimmed text; blank is None (a setting left empty falls back to its default)."""
    value = (form.get(name) or "").strip()
    return value or None


def flag(form: Mapping[str, str], name: str) -> bool:
    """A check box: present and truthy. An unticked box is simply absent from the form."""
    return (form.get(name) or "").strip().lower() in TRUE_VALUES


def integer(form: Mapping[str, str], name: str, label: str | None = None, required: bool = True) -> int | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        if required:
            raise FormFieldError(name, label, _("required."))
        return None
    try:
        return int(raw)
    except ValueError:
        raise FormFieldError(name, label, _("a whole number, not %(value)s.", value=repr(raw[:20]))) from None


def amount(form: Mapping[str, str], name: str, label: str | None = None) -> Decimal | None:
    raw = (form.get(name) or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FormFieldError(name, label, _("a number such as 10 or 12.50, not %(value)s.",
                                              value=repr(raw[:20]))) from None
    if not value.is_finite() or not 0 <= value <= MAX_AMOUNT:  # Decimal("1e999") is finite: bound it too
        raise FormFieldError(name, label, _("from 0 to %(max)s.", max=MAX_AMOUNT))
    if value != value.quantize(MONEY_STEP):
        raise FormFieldError(name, label, _("at most 4 decimal places."))
    return abs(value) if value.is_zero() else value


def refuse_unstorable_input() -> None:
    """Every admin view behind the login: a NUL or lone surrogate in a form field, query parameter or URL part is a
    400 naming it (the FieldError handler answers), before any view reads the value."""
    refuse_unstorable_fields(request.view_args or {})
    refuse_unstorable_fields(request.args)
    refuse_unstorable_fields(request.form)
