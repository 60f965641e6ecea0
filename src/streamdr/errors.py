"""The exception tree of streamdr.

Every expected failure is a ``StreamdrError`` carrying a one-line message, a hint saying what to
do, and the process exit code the CLI uses (see docs/architecture.md)::

    StreamdrError                      exit 2 unless a subclass says otherwise
    ├── InputError                     2  bad arguments, settings or files
    ├── UnreachableError               3  a cluster, store, database or runtime cannot be reached
    ├── StateError                     2  the system is in a state the command cannot act on
    └── FailedCheckError               1  a check or drill ran and judged "fail"

Library errors (confluent-kafka, pyarrow, SQLAlchemy, subprocess) are translated into these at the
adapter that calls the library, with ``raise ... from exc`` so the cause stays visible in logs.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_UNREACHABLE = 3


class StreamdrError(Exception):
    """An expected failure with a message and a hint for the operator."""

    exit_code: int = EXIT_INPUT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(StreamdrError):
    """Bad arguments, an invalid settings file or an invalid input file."""

    exit_code = EXIT_INPUT


class StateError(StreamdrError):
    """The system is in a state the command cannot act on (e.g. a half-started lab)."""

    exit_code = EXIT_INPUT


class UnreachableError(StreamdrError):
    """A dependency (Kafka site, object store, database, Java runtime) cannot be reached."""

    exit_code = EXIT_UNREACHABLE


class LoginRefusedError(UnreachableError):
    """A Kafka site answered but refused our login (SASL): it runs, we cannot use it."""


class FailedCheckError(StreamdrError):
    """A check or drill ran to completion and its verdict is "fail"."""

    exit_code = EXIT_FAILED
