"""Start-up refuses a wrong configuration with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.config import ConfigError, load_settings
from tests.conftest import APP, app_settings


def test_a_42_character_aes_key_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        app_settings(wecom_encoding_aes_key=APP["encoding_aes_key"][:42])
    assert info.value.problems == ["WECOM_ENCODING_AES_KEY: must be 43 characters, got 42"]


def test_a_non_numeric_agent_id_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        app_settings(wecom_agent_id="advisor-app")
    assert info.value.problems == [
        "WECOM_AGENT_ID: must be the numeric AgentId of the app, got 'advisor-app'"
    ]


def test_unknown_time_zone_and_database_scheme_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(bot_timezone="Mars/Olympus", database_url="mysql://x")
    assert sorted(p.split(":")[0] for p in info.value.problems) == ["BOT_TIMEZONE", "DATABASE_URL"]


def test_a_live_server_needs_every_wecom_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(wecom_corp_id="ww1").require_wecom()
    assert "WECOM_SECRET: is required to talk to WeCom" in info.value.problems
    assert not any(p.startswith("WECOM_CORP_ID") for p in info.value.problems)


def test_embedded_default_is_a_sqlite_file_in_the_data_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(bot_data_dir=tmp_path, database_url=None)
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'advisor-bot.db'}"
    assert load_settings(database_url="postgres://u@h/db").effective_database_url == (
        "postgresql+psycopg://u@h/db"
    )


def _serve(env_overrides: dict[str, str], tmp_path) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "DATABASE_URL"))}
    env.update(
        {
            "WECOM_CORP_ID": APP["corp_id"],
            "WECOM_AGENT_ID": "1000002",
            "WECOM_SECRET": "s",
            "WECOM_TOKEN": APP["token"],
            "WECOM_ENCODING_AES_KEY": APP["encoding_aes_key"],
            "BOT_DATA_DIR": str(tmp_path),
        }
    )
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, expected",
    [
        (
            {"WECOM_ENCODING_AES_KEY": APP["encoding_aes_key"][:42]},
            "advisor-bot: WECOM_ENCODING_AES_KEY: must be 43 characters, got 42",
        ),
        (
            {"WECOM_AGENT_ID": "abc"},
            "advisor-bot: WECOM_AGENT_ID: must be the numeric AgentId of the app, got 'abc'",
        ),
        (
            {"DATABASE_URL": "postgresql://bot:secret@127.0.0.1:1/bot"},
            "advisor-bot: DATABASE_URL: cannot connect to postgresql+psycopg://bot:***@127.0.0.1:1/bot",
        ),
    ],
)
def test_serve_stops_with_one_line_naming_the_variable(
    env: dict[str, str], expected: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    result = _serve(env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert "secret" not in result.stderr
