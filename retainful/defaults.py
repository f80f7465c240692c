"""Where the default template folders are: inside an installed package (setup.py installs ``email_templates/`` and
``sms_templates/`` as ``retainful/email_templates`` and ``retainful/sms_templates``), else beside the source tree's
package, at the top level. A module of its own, importing nothing, so any layer can ask it."""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def template_folder(name: str) -> Path:
    """``email_templates`` or ``sms_templates``, installed or in the tree."""
    installed = PACKAGE / name
    return installed if installed.is_dir() else PACKAGE.parent / name
