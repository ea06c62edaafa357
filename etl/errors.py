"""The project's exceptions, sorted by what the user can do about them.

    EtlError                      base: every expected failure, one line for the user
    ├── ConfigError               bad settings or options (exit code 2)
    ├── ExtractError              the Traffy API failed us
    │   ├── TraffyUnreachable     network down, DNS, timeouts, retries exhausted
    │   ├── TraffyFatal           a 4xx or a response we no longer recognise
    │   └── IncompleteWindow      fewer tickets paged than the server counts
    ├── ValidationFailed          too many records were invalid to publish
    └── SinkError                 writing the tabs failed
        └── SheetsError           the Google Sheets API failed us
            ├── SheetsAuthError   no credential, or Google refused it (401/403)
            ├── SheetsLimitError  the write would break a Sheets limit (10 M cells)
            └── SheetsLockedError another sync holds the spreadsheet's lease

The CLI maps each to an exit code and prints ``str(error)``: so messages name
the fault, the URL (never a secret) and what to do.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``etl`` exits with; documented in README.md (a test keeps them in step)."""

    OK = 0
    FAILED = 1  # the run failed: nothing (new) was published
    USAGE = 2  # bad options, settings or credentials: fix the configuration
    PARTIAL = 3  # published, but invalid records exceed warn_invalid_share
    INTERRUPTED = 130  # stopped with Ctrl-C (or SIGINT) before finishing


class EtlError(Exception):
    """Base of every error the CLI reports as one line."""

    exit_code = 1


class ConfigError(EtlError):
    """Settings, config file or command-line options are invalid."""

    exit_code = 2


class ExtractError(EtlError):
    """Extraction from the Traffy API failed; nothing was written."""


class TraffyUnreachable(ExtractError):
    """The Traffy API could not be reached (after retries)."""


class TraffyFatal(ExtractError):
    """The Traffy API answered in a way retrying will not fix."""


class IncompleteWindow(ExtractError):
    """A window's pages held fewer tickets than the server's own count, scan after scan."""


class ValidationFailed(EtlError):
    """More records were invalid than the configured share allows."""


class SinkError(EtlError):
    """Writing the tabs failed."""


class SheetsError(SinkError):
    """The Google Sheets API failed (after retries) or answered unexpectedly."""


class SheetsAuthError(SheetsError):
    """No usable Google credential, or Google refused it: share the spreadsheet."""

    exit_code = 2


class SheetsLimitError(SheetsError):
    """Writing would exceed a Google Sheets limit; nothing was written."""


class SheetsLockedError(SheetsError):
    """Another sync holds the spreadsheet's lease; nothing was written."""
