"""The exception tree of Gitward.

Every error Gitward raises on purpose carries two texts: ``message``, the one line a user
sees (CLI ``error: ...``, git's ``ERROR: ...``, an HTTP error body), and ``cause``, the
detail that goes only to the log. Messages never contain secrets nor reveal other accounts.

    GitwardError
    ├── KeyFormatError            a blob is not a key we can read (keys/)
    │   ├── WrongPassphrase
    │   └── KeyIntegrityError      a MAC or checksum does not match
    ├── KeyRejected               a readable key that is refused for a purpose (too weak, ...)
    ├── CertificateError          a certificate cannot be parsed or built (ca/)
    ├── NotFound                  an entity does not exist (or must look as if it did not)
    ├── AlreadyExists             a unique name, key or CA is taken
    ├── InvalidInput              a value that fails validation (names, roles, ...)
    ├── PermissionDenied          access refused after authentication
    └── ConfigurationError        settings that cannot work
"""

from __future__ import annotations


class GitwardError(Exception):
    """Base of every error Gitward raises on purpose."""

    def __init__(self, message: str, *, cause: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause if cause is not None else message

    def __str__(self) -> str:
        return self.message


class KeyFormatError(GitwardError):
    """The bytes are not a key (or not one in a format we read)."""


class WrongPassphrase(KeyFormatError):
    """The key is encrypted and the passphrase given does not open it."""


class KeyIntegrityError(KeyFormatError):
    """The file's MAC or check bytes do not match: it is damaged or was altered."""


class KeyRejected(GitwardError):
    """A readable key that is refused for the purpose it was offered for."""


class CertificateError(GitwardError):
    """A certificate cannot be parsed, or cannot be built as asked."""


class NotFound(GitwardError):
    """An entity does not exist (or the caller may not know that it does)."""


class AlreadyExists(GitwardError):
    """A unique name, key, or certificate authority is already taken."""


class InvalidInput(GitwardError):
    """A value that fails validation."""


class PermissionDenied(GitwardError):
    """Access refused after authentication."""


class ConfigurationError(GitwardError):
    """Settings that cannot work."""
