"""Where the installed packages come from (the metadata and dependencies are in setup.cfg).

The top level of the tree is fixed (retainful/, admin/, email_templates/, sms_templates/), but an installed service
must not put a generic top-level ``admin`` into site-packages, and its template folders must travel with it. So:

- ``admin/`` installs as ``retainful_admin`` (the editable install maps the same name to the folder, so the tree and
  the wheel import one name);
- ``email_templates/`` and ``sms_templates/`` install inside the package, as ``retainful/email_templates`` and
  ``retainful/sms_templates`` (``retainful.defaults`` looks there first, then beside the package);
- every folder below them is a (namespace) package of its own, so data folders such as ``retainful/migrations`` or
  ``admin/static`` are declared, not guessed, and all of each folder's files are its package data.

setup.cfg cannot say "every folder below these four", hence this file.
"""
from setuptools import find_namespace_packages, setup

FOLDERS = {"retainful": "retainful", "retainful_admin": "admin",
           "retainful.email_templates": "email_templates", "retainful.sms_templates": "sms_templates"}


def _packages(name: str, folder: str) -> list[str]:
    below = find_namespace_packages(where=folder, exclude=["__pycache__", "*.__pycache__"])
    return [name] + [f"{name}.{package}" for package in below]


PACKAGES = [package for name, folder in FOLDERS.items() for package in _packages(name, folder)]

setup(
    packages=PACKAGES,
    package_dir={name: folder for name, folder in FOLDERS.items() if name != folder},
    package_data={package: ["*"] for package in PACKAGES},
    exclude_package_data={package: ["*.pyc"] for package in PACKAGES},
)
