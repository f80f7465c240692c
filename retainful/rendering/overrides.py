"""Per-store template overrides: versioned saves, reset to the file default, history."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from retainful.channels import channel as channel_named, names
from retainful.extensions import db
from retainful.models import Store, TemplateVersion
from retainful.rendering import budget
from retainful.rendering.engine import (
    VARIANT_LOCALES,
    TemplateError,
    TemplateTooExpensive,
    added_variant_base,
    default_source,
    key_locale,
    template_keys,
)
from retainful.rendering.context import cart_context, recent_carts, sample_context, with_sample_vars
from retainful.urls import PublicUrls

SAVE_CHECK_CARTS = 5  # the store's recent carts a save renders besides the sample


def latest(store_id: int, channel: str, key: str) -> TemplateVersion | None:
    return db.session.scalar(
        sa.select(TemplateVersion)
        .where(TemplateVersion.store_id == store_id, TemplateVersion.channel == channel, TemplateVersion.key == key)
        .order_by(TemplateVersion.version.desc()).limit(1)
    )


@dataclass(frozen=True)
class TemplateState:
    """Where one of a store's templates stands: its latest version (0 if never saved) and who saved it when."""

    channel: str
    key: str
    version: int
    is_default: bool
    updated_at: datetime | None
    author: str | None
    addable_locales: list[str]  # the languages it may get a version in (none for a version itself)


def template_states(store_id: int) -> list[TemplateState]:
    """Every template the store may edit, by channel and key: the files', and the language versions it added (one
    deleted, that is reset, is gone: its shoppers get the default)."""
    in_force = current_sources(store_id)
    added = [name for name in in_force if added_variant_base(*name) is not None]
    states = []
    for channel in names():
        for key in sorted([*template_keys(channel), *(key for medium, key in added if medium == channel)]):
            current = latest(store_id, channel, key)
            states.append(TemplateState(channel, key, current.version if current else 0,
                                        current is None or current.source is None,
                                        current.created_at if current else None, current.author if current else None,
                                        addable_locales(store_id, channel, key, in_force)))
    return states


def addable_locales(store_id: int, channel: str, key: str,
                    in_force: dict[tuple[str, str], str] | None = None) -> list[str]:
    """The languages a default may get a version in: those it has no file nor version in force for (a version has
    none of its own). ``in_force``: the store's :func:`current_sources`, when the caller has them."""
    if key_locale(key) is not None:
        return []
    in_force = current_sources(store_id) if in_force is None else in_force
    return [locale for locale in VARIANT_LOCALES
            if f"{key}.{locale}" not in template_keys(channel) and (channel, f"{key}.{locale}") not in in_force]


def effective_source(store_id: int, channel: str, key: str) -> str | None:
    """The store's current override, or None when the file default applies."""
    current = latest(store_id, channel, key)
    return current.source if current else None


def current_sources(store_id: int) -> dict[tuple[str, str], str]:
    """Every override the store has in force, keyed by (channel, key), in one query: what a batch of sends reads
    instead of one lookup per message. Keys reset to the file default are absent."""
    latest_versions: dict[tuple[str, str], str | None] = {}
    for channel, key, source in db.session.execute(
            sa.select(TemplateVersion.channel, TemplateVersion.key, TemplateVersion.source)
            .where(TemplateVersion.store_id == store_id).order_by(TemplateVersion.version)):
        latest_versions[channel, key] = source
    return {name: source for name, source in latest_versions.items() if source is not None}


def history(store_id: int, channel: str, key: str) -> list[TemplateVersion]:
    default_source(channel, key)  # refuses unknown keys
    return list(db.session.scalars(
        sa.select(TemplateVersion)
        .where(TemplateVersion.store_id == store_id, TemplateVersion.channel == channel, TemplateVersion.key == key)
        .order_by(TemplateVersion.version.desc())
    ))


def _append(store: Store, channel: str, key: str, source: str | None, author: str | None) -> TemplateVersion:
    current = latest(store.id, channel, key)
    version = TemplateVersion(store_id=store.id, channel=channel, key=key, source=source, author=author,
                              version=(current.version + 1) if current else 1)
    db.session.add(version)
    db.session.commit()
    return version


def save_override(store: Store, urls: PublicUrls, channel: str, key: str, source: str,
                  author: str | None = None) -> TemplateVersion:
    """Save a new version after :func:`check_source` proved it renders. A broken template is never stored."""
    check_source(store, urls, channel, key, source)
    return _append(store, channel, key, source, author)


def check_source(store: Store, urls: PublicUrls, channel: str, key: str, source: str) -> None:
    """Raise TemplateError unless ``source`` renders as ``key`` with the sample cart and with the store's recent real
    carts (a template that breaks, or blows the budget, only for real shoppers' data is refused too), all within one
    render budget."""
    default_source(channel, key)
    render = channel_named(channel).render
    with budget.scope():
        render(key, sample_context(store, urls, key), source=source)
        for cart in recent_carts(store.id, SAVE_CHECK_CARTS):
            context = with_sample_vars(cart_context(store, cart, urls, urls.inert("recovery"), urls.inert("pixel")),
                                       store, key)
            try:
                render(key, context, source=source)
            except TemplateTooExpensive:
                raise
            except TemplateError as error:  # which cart is not said: the message may show its shopper's data
                raise TemplateError(f"with one of the store's recent carts: {error.message}", error.line) from None


def reset_to_default(store: Store, channel: str, key: str, author: str | None = None) -> TemplateVersion:
    default_source(channel, key)
    return _append(store, channel, key, None, author)
