"""Settings precedence: config/default.toml < --config file < ETL_* env < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.errors import ConfigError
from etl.settings import load_settings


def test_defaults_come_from_config() -> None:
    settings = load_settings()
    assert settings.district == "สวนหลวง"
    assert settings.traffy_url == "https://publicapi.traffy.in.th"
    assert "กำลังดำเนินการ" in settings.state_groups["in_progress"]
    assert settings.state_group_of()["ส่งต่อ(ใหม่)"] == "forwarded"


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "office.toml"
    extra.write_text('district = "วัฒนา"\npage_size = 500\nwindow_months = 6\n', encoding="utf-8")
    settings = load_settings(extra)
    assert (settings.district, settings.page_size, settings.window_months) == ("วัฒนา", 500, 6)
    monkeypatch.setenv("ETL_PAGE_SIZE", "200")
    monkeypatch.setenv("ETL_DISTRICT", "บางนา")
    settings = load_settings(extra, district="เขตประเวศ")
    assert (settings.district, settings.page_size, settings.window_months) == ("ประเวศ", 200, 6)


def test_nested_env_overrides_a_state_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_STATE_GROUPS__IN_PROGRESS", '["กำลังดำเนินการ"]')
    assert load_settings().state_groups["in_progress"] == ["กำลังดำเนินการ"]


def test_invalid_values_are_one_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_PAGE_SIZE", "5000")
    with pytest.raises(ConfigError, match="page_size"):
        load_settings()


def test_unknown_state_group_is_rejected(tmp_path: Path) -> None:
    extra = tmp_path / "bad.toml"
    extra.write_text('[state_groups]\ndone = ["เสร็จสิ้น"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown state group"):
        load_settings(extra)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_settings(tmp_path / "nope.toml")
