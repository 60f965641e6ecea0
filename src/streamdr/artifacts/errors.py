"""Errors of the artifact registry; every one is an input problem (exit 2) with a hint.

::

    InputError
    └── ArtifactError                  any artifact problem
        ├── ArtifactNotFoundError      no such name@version in the registry
        ├── ArtifactExistsError        publishing a version that already exists
        ├── ArtifactRejectedError      unsigned, tampered, or signed by an untrusted key
        └── ArtifactLoadError          verified, but its entry point cannot be imported
"""

from __future__ import annotations

from streamdr.errors import InputError


class ArtifactError(InputError):
    """A transformation artifact cannot be published, found, trusted or loaded."""


class ArtifactNotFoundError(ArtifactError):
    """The requested artifact version is not in the registry."""


class ArtifactExistsError(ArtifactError):
    """The version is already published; published versions are immutable."""


class ArtifactRejectedError(ArtifactError):
    """The artifact failed verification: missing or bad signature, unknown key, wrong digest."""


class ArtifactLoadError(ArtifactError):
    """The artifact verified but its entry point could not be imported or is not callable."""


class TransformFailed(Exception):
    """The transformation raised, hung, or returned something that is not a list of OutputEvent.

    Not a StreamdrError: it is the verdict on one event (which is dead-lettered with this
    reason), not a failure of the command.
    """
