"""Typed errors: every error carries a stable code, a human message and the input at fault."""

from __future__ import annotations


class SiyuError(Exception):
    """Base error. ``code`` is stable and machine-readable; ``message`` is for people."""

    code = "siyu_error"

    def __init__(self, message: str, *, code: str | None = None, input_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.input_name = input_name

    def __str__(self) -> str:
        where = f" [{self.input_name}]" if self.input_name else ""
        return f"{self.code}{where}: {self.message}"


class ValidationFailed(SiyuError):
    code = "validation_failed"


class BadInputFile(SiyuError):
    """A whole input file cannot be read (truncated Parquet, binary garbage, unknown encoding)."""

    code = "bad_input_file"


class LakeError(SiyuError):
    code = "lake_error"


class EngineUnavailable(SiyuError):
    code = "engine_unavailable"


class IdentityError(SiyuError):
    code = "identity_error"
