"""Domain errors that the adapters turn into 4xx answers."""
from __future__ import annotations


class FieldError(ValueError):
    """Input that the domain refuses, naming the field (dotted path) it came from; ``code`` is the API's error code."""

    code = "validation_error"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message

    def prefixed(self, prefix: str) -> "FieldError":
        return FieldError(f"{prefix}.{self.field}", self.message)
