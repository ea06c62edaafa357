"""One settings object for the whole run.

Precedence, lowest first: ``config/default.toml`` shipped with the project, an
optional TOML file (``--config`` or ``ETL_CONFIG``), ``ETL_*`` environment
variables, then command-line flags (passed as keyword arguments).
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from etl.districts import bangkok, district_named
from etl.errors import ConfigError
from etl.shipped import shipped_config

STATE_GROUPS = (
    "waiting",
    "in_progress",
    "forwarded",
    "following",
    "finished",
    "irrelevant",
    "unknown",
)
"""Every state group, in the order reports show them."""


ALL_DISTRICTS = "all"
"""``--district all``: every Bangkok district from one extraction (``etl.pipeline``)."""


def default_config_path() -> Path:
    """The shipped defaults (``config/default.toml``)."""
    return shipped_config("default.toml")


class Settings(BaseSettings):
    """Everything a run needs to know; see ``config/default.toml`` for each key."""

    model_config = SettingsConfigDict(
        env_prefix="ETL_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        env_ignore_empty=True,  # an unset GitHub Actions variable arrives as ""
    )

    district: str = Field(min_length=1)
    feed: Literal["v1", "search"] = "v1"
    traffy_url: str = "https://publicapi.traffy.in.th"
    out: Path = Path("output")
    since: date | None = None
    until: date | None = None
    window_months: int = Field(default=3, ge=1)
    page_size: int = Field(default=1000, ge=1, le=1000)
    window_days: int = Field(default=31, ge=1)
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    retry_attempts: int = Field(default=5, ge=1)
    retry_backoff_initial: float = Field(default=1.0, ge=0)
    retry_backoff_max: float = Field(default=30.0, ge=0)
    max_invalid_share: float = Field(default=0.05, ge=0, le=1)
    max_removed_share: float = Field(default=0.05, ge=0, le=1)
    removed_tickets_allowed: int = Field(default=10, ge=0)
    warn_invalid_share: float = Field(default=0.01, ge=0, le=1)
    retry_budget: float = Field(default=300.0, gt=0)
    concurrency: int = Field(default=2, ge=1, le=8)
    max_window_pages: int = Field(default=20, ge=1)
    sync_overlap_days: int = Field(default=2, ge=0)
    backfill_name: str = "traffy-etl"
    backfill_org: str = ""
    backfill_purpose: str = "district office monthly report"
    backfill_email: str = ""
    state_groups: dict[str, list[str]] = Field(default_factory=dict)
    tabs: dict[str, str] = Field(default_factory=dict)
    report_oldest_tickets: int = Field(default=20, ge=1)
    spreadsheet_id: str | None = None
    sheets_api_url: str = "https://sheets.googleapis.com"
    google_service_account_json: SecretStr | None = None
    actions_tab: str = Field(default="actions", min_length=1)
    sheets_timeout: float = Field(default=120.0, gt=0)
    sheets_retry_attempts: int = Field(default=7, ge=1)
    sheets_retry_backoff_initial: float = Field(default=1.0, ge=0)
    sheets_retry_backoff_max: float = Field(default=64.0, ge=0)
    sheets_max_request_bytes: int = Field(default=2_000_000, ge=10_000)
    sheets_lock_minutes: float = Field(default=30.0, gt=0)
    spreadsheets: dict[str, str] = Field(default_factory=dict)
    """District -> spreadsheet id, for a run serving several districts (``[spreadsheets]``,
    or ``ETL_SPREADSHEETS`` as a JSON object)."""
    sheets_requests_per_minute: int = Field(default=50, ge=1)
    rank_min_tickets: int = Field(default=30, ge=0)
    bigquery_dataset: str | None = None
    bigquery_api_url: str = "https://bigquery.googleapis.com"
    bigquery_retry_deadline: float = Field(default=600.0, gt=0)

    @field_validator("district")
    @classmethod
    def _bangkok_district(cls, value: str) -> str:
        """One of Bangkok's 50, as Traffy writes it (``เขตสวนหลวง`` -> ``สวนหลวง``);
        or several served by one run: ``all``, or a comma list (kept as the names
        joined by commas, see ``served_districts``).

        Raises ``UnknownDistrict`` (not a ValueError, so pydantic lets it through
        as the one-line usage error it is).
        """
        if value.strip().casefold() == ALL_DISTRICTS:
            return ALL_DISTRICTS
        names = [district_named(part).name for part in value.split(",") if part.strip()]
        return ",".join(dict.fromkeys(names)) or district_named(value).name

    @field_validator("spreadsheets")
    @classmethod
    def _spreadsheets_by_district(cls, value: dict[str, str]) -> dict[str, str]:
        """Keys are district names (with or without ``เขต``, or English): stored as Traffy
        writes them, so a typo is refused like one in ``district``."""
        return {district_named(name).name: sid.strip() for name, sid in value.items()}

    @field_validator("state_groups")
    @classmethod
    def _known_groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(value) - set(STATE_GROUPS)
        if unknown:
            raise ValueError(
                f"unknown state group(s) {sorted(unknown)}; use {', '.join(STATE_GROUPS)}"
            )
        return value

    @field_validator("traffy_url", "sheets_api_url", "bigquery_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """``http(s)://host[:port][/path]``, without a trailing slash (paths are appended).

        Checked here, before the first request: a typo otherwise surfaced as a
        connection error after the retries.
        """
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018  # raises on a port that is not a number
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as https://host")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} must be a host (and path) without ? or #")
        return value

    @model_validator(mode="after")
    def _window_in_order(self) -> Settings:
        if self.since and self.until and self.since > self.until:
            raise ValueError(
                f"since ({self.since}) is after until ({self.until}): the window would be empty"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [default_config_path()]
        extra = _CONFIG_FILE.get() or os.environ.get("ETL_CONFIG")
        if extra:
            files.append(Path(extra))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=files),
        )

    @model_validator(mode="after")
    def _warn_below_fail(self) -> Settings:
        if self.warn_invalid_share > self.max_invalid_share:
            raise ValueError(
                f"warn_invalid_share ({self.warn_invalid_share}) must not exceed "
                f"max_invalid_share ({self.max_invalid_share})"
            )
        return self

    @property
    def served_districts(self) -> tuple[str, ...]:
        """The districts this run serves: one, a comma list, or all 50 (``all``)."""
        if self.district == ALL_DISTRICTS:
            return tuple(d.name for d in bangkok())
        return tuple(self.district.split(","))

    @model_validator(mode="after")
    def _spreadsheet_of_the_district(self) -> Settings:
        """A single district listed in ``[spreadsheets]`` writes there without
        ``spreadsheet_id`` (one config file serves a city-wide and a one-district run)."""
        if not self.spreadsheet_id and self.district in self.spreadsheets:
            self.spreadsheet_id = self.spreadsheets[self.district]
        return self

    def state_group_of(self) -> dict[str, str]:
        """Thai state -> group, the lookup the transform applies."""
        return {state: group for group, states in self.state_groups.items() for state in states}

    def tab_name(self, tab: str) -> str:
        """The name a tab is written under (configurable, defaults to its id)."""
        return self.tabs.get(tab, tab)


_CONFIG_FILE: ContextVar[Path | None] = ContextVar("etl_config_file", default=None)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, turning pydantic's errors into one ``ConfigError`` line.

    ``overrides`` are command-line values; ``None`` means "not given".
    """
    for path, origin in _config_files(config_file):
        _check_toml(path, origin)
    given = {key: value for key, value in overrides.items() if value is not None}
    # The file is handed to the settings source for this call only: setting
    # ETL_CONFIG would leak it into every later load in the process.
    token = _CONFIG_FILE.set(config_file)
    try:
        return Settings(**given)
    except ValidationError as error:
        problems = "; ".join(_problem(item["loc"], item["msg"]) for item in error.errors())
        raise ConfigError(f"Invalid settings: {problems}") from None
    finally:
        _CONFIG_FILE.reset(token)


def _problem(where: tuple[int | str, ...], message: str) -> str:
    """One of pydantic's errors as ``field: what is wrong`` (its prefixes dropped)."""
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    field = ".".join(str(part) for part in where)
    return f"{field}: {message}" if field else message


def _config_files(config_file: Path | None) -> list[tuple[Path, str]]:
    """The TOML files a load reads, each with where it was named (for messages)."""
    files = [(default_config_path(), "the shipped defaults")]
    if config_file is not None:
        files.append((config_file, "--config"))
    elif os.environ.get("ETL_CONFIG"):
        files.append((Path(os.environ["ETL_CONFIG"]), "ETL_CONFIG"))
    return files


def _check_toml(path: Path, origin: str) -> None:
    """One line for a config file that is missing, a folder, or not TOML: the file,
    and for a syntax error its line and column (tomllib's own words)."""
    if path.is_dir():
        raise ConfigError(f"Config file {path} ({origin}) is a folder; give a TOML file.")
    if not path.is_file():
        raise ConfigError(f"Config file {path} ({origin}) does not exist.")
    try:
        with path.open("rb") as file:
            tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"Config file {path} is not valid TOML: {error}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Config file {path} is not UTF-8 text.") from None
