"""The sandbox's own error: it is a product of its own and imports nothing of the tool that embeds it."""

from __future__ import annotations


class SandboxError(Exception):
    """The sandbox could not be started, stopped, reached or configured. ``hint`` says what to do next."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
