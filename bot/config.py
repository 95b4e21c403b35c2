"""Configuration from environment variables and `.env`, validated once at start-up.

Every variable name is a public contract (see README). A wrong value stops start-up with one
line per problem, naming the variable and what is wrong with it.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WECOM_DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin"
_AES_KEY_ALPHABET = re.compile(r"^[A-Za-z0-9+/]{43}$")


class ConfigError(Exception):
    """Configuration is missing or wrong; `str()` is ready to print, one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "advisor-bot"


def _project_dir(name: str) -> Path:
    """`name` beside the package (a checkout or the image's /app), else in the working dir."""
    beside = Path(__file__).resolve().parents[1] / name
    return beside if beside.is_dir() else Path.cwd() / name


class Settings(BaseSettings):
    """All settings; field `foo_bar` is read from the variable `FOO_BAR`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    wecom_corp_id: str | None = None
    wecom_agent_id: int | None = None
    wecom_secret: SecretStr | None = None
    wecom_token: SecretStr | None = None
    wecom_encoding_aes_key: SecretStr | None = None
    wecom_api_base: str = WECOM_DEFAULT_API_BASE

    database_url: str | None = None
    bot_data_dir: Path = Field(default_factory=_default_data_dir)
    bot_timezone: str = "Asia/Shanghai"
    bot_log_level: str = "INFO"
    # A push whose timestamp is further than this from our clock is refused (replay guard).
    bot_callback_max_skew_seconds: int = Field(default=300, ge=5, le=86400)

    # The firm's knowledge base and seed script library (see README).
    bot_knowledge_dir: Path = Field(default_factory=lambda: _project_dir("knowledge"))
    bot_scripts_dir: Path = Field(default_factory=lambda: _project_dir("scripts_library"))
    # Lets `/sidebar?dev_user=...` stand in for WeCom's OAuth: for the sandbox only.
    bot_sidebar_dev_login: bool = False

    hq_webhook_url: str | None = None
    hq_webhook_secret: SecretStr | None = None
    hq_api_token: SecretStr | None = None

    @field_validator("wecom_agent_id", mode="before")
    @classmethod
    def _agent_id_numeric(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip().isdigit():
                raise ValueError(f"must be the numeric AgentId of the app, got {value!r}")
            return int(value)
        return value

    @field_validator("wecom_encoding_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        raw = value.get_secret_value()
        if len(raw) != 43:
            raise ValueError(f"must be 43 characters, got {len(raw)}")
        if not _AES_KEY_ALPHABET.match(raw):
            raise ValueError("must contain only the base64 characters A-Z a-z 0-9 + /")
        try:
            key = base64.b64decode(raw + "=", validate=True)
        except binascii.Error as exc:  # pragma: no cover - alphabet check makes this rare
            raise ValueError(f"is not valid base64 ({exc})") from exc
        if len(key) != 32:
            raise ValueError("must decode to a 32-byte AES key")
        return value

    @field_validator("bot_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("wecom_api_base", "hq_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @cached_property
    def effective_database_url(self) -> str:
        """The database to use: DATABASE_URL, else a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.bot_data_dir / 'advisor-bot.db'}"

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.bot_timezone)

    @property
    def app_key(self) -> str:
        """Identifies this WeCom app (token cache key)."""
        return f"{self.wecom_corp_id}:{self.wecom_agent_id}"

    def require_wecom(self) -> None:
        """Raise ConfigError naming every WeCom variable a live server needs but lacks."""
        missing = [
            name.upper()
            for name in (
                "wecom_corp_id",
                "wecom_agent_id",
                "wecom_secret",
                "wecom_token",
                "wecom_encoding_aes_key",
            )
            if getattr(self, name) in (None, "")
        ]
        if missing:
            raise ConfigError([f"{name}: is required to talk to WeCom" for name in missing])

    def secret_values(self) -> list[str]:
        """Every secret value, so that logs can redact them."""
        secrets = [
            self.wecom_secret,
            self.wecom_token,
            self.wecom_encoding_aes_key,
            self.hq_webhook_secret,
            self.hq_api_token,
        ]
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and `.env`), raising ConfigError on bad values."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "configuration"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {msg}")
        raise ConfigError(problems) from None
