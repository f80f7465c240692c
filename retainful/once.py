"""Things a person asks for that must happen once however often the request arrives (a double-click, a resubmitted
form, a retried request): the caller claims a one-time token in the same transaction as the effect, and the unique
key of ``form_token`` lets exactly one claim (and so one effect) commit. Tokens are kept ``KEEP`` days."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retainful import clock
from retainful.extensions import db
from retainful.models import FormToken

KEEP = timedelta(days=30)  # a form left open longer than this and sent again would act again


def claim(token: str) -> bool:
    """True if ``token`` was not used before (now it is, once the caller commits); False if it was."""
    db.session.execute(sa.delete(FormToken).where(FormToken.used_at < clock.now() - KEEP))
    try:
        with db.session.begin_nested():
            db.session.add(FormToken(token=token, used_at=clock.now()))
    except IntegrityError:
        return False
    return True
