"""The abandoned-cart automation's page (the Sequence page): every role reads it, owners and admins change a step
(delay, channels, on/off, coupon rule). Its forms and their handling are the Automations pages' (admin/automations)."""
from __future__ import annotations

from flask import url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _

from retainful_admin.automations import confirm, save_step, steps_page, toggle_step
from retainful_admin.security import SecuredMixin, requires
from retainful import users
from retainful.errors import FieldError
from retainful.models import ABANDONED_CART


class SequenceView(SecuredMixin, BaseView):
    def _page(self, error: FieldError | None = None, error_position: int | None = None, status: int = 200):
        return steps_page(self, ABANDONED_CART, lambda p: url_for(".update", position=p),
                          lambda p: url_for(".toggle", position=p), error, error_position, status)

    @expose("/")
    def index(self):
        return self._page()

    @expose("/step/<int:position>", methods=("POST",))
    @requires(users.MANAGE)
    def update(self, position: int):
        return save_step(ABANDONED_CART, position, url_for(".index"), self._page)

    @expose("/step/<int:position>/toggle", methods=("POST",))
    @requires(users.MANAGE)
    def toggle(self, position: int):
        return toggle_step(ABANDONED_CART, position, url_for(".index"), self._page)

    @expose("/reviewed", methods=("POST",))
    @requires(users.MANAGE)
    def reviewed(self):
        """The owner's "Looks good": the sequence is reviewed as it stands (the dashboard's checklist)."""
        return confirm("sequence_reviewed", _("Sequence confirmed."))
