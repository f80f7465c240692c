"""A/B experiments: 2 to 4 variants of one automation step's (or campaign's) templates, each shopper in one variant
for good, and the decision the sequential rule took (retainful/experiments/)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retainful import clock
from retainful.extensions import db
from retainful.models.types import UTCDateTime


class ExperimentState:
    RUNNING = "running"
    DECIDED = "decided"  # the rule found a winner
    STOPPED = "stopped"  # the store ended it without one

    ALL = (RUNNING, DECIDED, STOPPED)


class Experiment(db.Model):
    __tablename__ = "experiment"
    __table_args__ = (
        # One running experiment per subject: a shopper's message must have one answer to "which variant".
        sa.Index("uq_experiment_running_subject", "store_id", "subject", unique=True,
                 postgresql_where=sa.text("state = 'running'"), sqlite_where=sa.text("state = 'running'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    # What is tested: "automation:<kind>:<step position>" or "campaign:<id>" (experiments.subjects).
    subject: Mapped[str] = mapped_column(sa.String(80))
    metric: Mapped[str] = mapped_column(sa.String(16), default="orders")  # orders or clicked, per recipient
    state: Mapped[str] = mapped_column(sa.String(16), default=ExperimentState.RUNNING)
    auto_apply: Mapped[bool] = mapped_column(default=False)
    winner_id: Mapped[int | None] = mapped_column()  # one of its variants' ids (no FK: the variants point here)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_rule: Mapped[str | None] = mapped_column(sa.String(200))
    decision_p_value: Mapped[float | None] = mapped_column(sa.Float)  # the winner's weakest always-valid p-value
    decision_stats: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))  # the counts then
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    variants: Mapped[list["Variant"]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="Variant.position", passive_deletes=True)


class Variant(db.Model):
    __tablename__ = "experiment_variant"
    __table_args__ = (sa.UniqueConstraint("experiment_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(sa.ForeignKey("experiment.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()  # 1 is the control
    name: Mapped[str] = mapped_column(sa.String(64))
    weight: Mapped[int] = mapped_column()  # a share of the experiment's traffic, relative to the others' weights
    # Per channel: {"key": another template key} or {"source": a template's source}; a channel left out keeps the
    # subject's own template.
    templates: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    experiment: Mapped[Experiment] = relationship(back_populates="variants")
