"""Adding a language version in Chromium at 1366 px: "Add a language version" on a template without a Korean file
opens the Korean version's editor with the default's source, the preview follows the translation, saving lists it,
and the page never scrolls sideways."""
from __future__ import annotations

import re

from tests.browser import browser, code_value, set_code  # noqa: F401 (browser)
from tests.test_admin_browser import MARKETER, expect, live, log_in, page, refusals, world  # noqa: F401 (fixtures)
from tests.test_editor_browser import WIDER_THAN_THE_WINDOW

WIDE = {"width": 1366, "height": 900}
WIN_BACK = "/admin/templates/edit/email/win_back/step1"


def test_a_korean_version_is_added_translated_and_saved(page, world):
    page.set_viewport_size(WIDE)
    log_in(page, MARKETER)
    page.goto(WIN_BACK)
    expect(page.locator("#add-language-locale option")).to_have_text(["한국어 (ko)"])
    page.select_option("#add-language-locale", "ko")
    page.click("#add-language-button")
    expect(page).to_have_url(re.compile(r"/admin/templates/edit/email/win_back/step1\.ko$"))
    expect(page.locator("#template-state")).to_have_text("new, not saved yet")
    expect(page.locator("#language-version-note")).to_contain_text("한국어")
    editor = page.locator("#template-editor")
    expect(editor).to_have_attribute("data-preview-state", "ready")
    default = code_value(page)
    assert "{% block subject %}" in default and "{% extends" in default  # the default's source to translate

    set_code(page, re.sub(r"{% block subject %}.*?{% endblock %}", "{% block subject %}(광고) 다시 만나요{% endblock %}",
                          default, count=1, flags=re.S))
    expect(page.locator("#preview-subject")).to_have_text("(광고) 다시 만나요")
    expect(editor).to_have_attribute("data-preview-state", "ready")
    assert page.evaluate(WIDER_THAN_THE_WINDOW) == []
    page.click("#save-template")
    expect(page.locator("#template-state")).to_contain_text("v1")
    expect(page.locator("#reset-template")).to_have_text("Delete this language version")

    page.goto("/admin/templates/")
    expect(page.locator("tr[data-key='win_back/step1.ko']")).to_be_visible()
    page.goto(WIN_BACK)
    expect(page.locator("#add-language")).to_have_count(0)  # Korean exists now: no language left to add
