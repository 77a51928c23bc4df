"""Settings: environment over desk.toml, every bad value named in one line, preferences saved to desk.toml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desk_desktop.config import SettingsError, load_settings, save_preferences

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path, **values) -> dict[str, str]:
    return {"DESK_CONFIG_DIR": str(tmp_path), "DESK_DATA_DIR": str(tmp_path / "data"), **values}


def test_environment_overrides_the_file(tmp_path):
    (tmp_path / "desk.toml").write_text('assign_radius_km = 25\nclamd = "tcp:scanner:3310"\n', encoding="utf-8")
    settings = load_settings(_env(tmp_path, DESK_ASSIGN_RADIUS_KM="7.5"))
    assert settings.assign_radius_km == 7.5
    assert settings.clamd_address == "tcp:scanner:3310"
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(("var", "value", "message"), [
    ("DESK_CLAMD_TIMEOUT", "thirty", "DESK_CLAMD_TIMEOUT: 'thirty' is not a number"),
    ("DESK_ASSIGN_RADIUS_KM", "-3", "DESK_ASSIGN_RADIUS_KM: '-3' must be a number above 0"),
    ("DESK_MAX_ATTACHMENT_MB", "nan", "DESK_MAX_ATTACHMENT_MB: 'nan' must be a number above 0"),
    ("DESK_SMTP_URL", "mail.example.com:25", "DESK_SMTP_URL: 'mail.example.com:25': expected smtp://host:port"),
    ("DESK_SMTP_URL", "smtp://mail:2x5", "DESK_SMTP_URL: 'smtp://mail:2x5': the port is not a number"),
    ("DESK_CLAMD", "scanner:3310", "DESK_CLAMD: 'scanner:3310': expected unix:/path/to/clamd.ctl or tcp:HOST:PORT"),
    ("DESK_LOG_LEVEL", "loud", "DESK_LOG_LEVEL: 'loud': expected one of DEBUG, INFO, WARNING, ERROR"),
    ("DESK_TILE_URL", "https://tiles.example/x.png", "DESK_TILE_URL: 'https://tiles.example/x.png': expected an http(s) URL"),
    ("DESK_OFFLINE_MAP", "/nowhere/region.pmtiles", "DESK_OFFLINE_MAP: '/nowhere/region.pmtiles': no such file"),
])
def test_a_bad_value_is_named_in_one_line(tmp_path, var, value, message):
    with pytest.raises(SettingsError) as err:
        load_settings(_env(tmp_path, **{var: value}))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_a_bad_file_value_names_the_key_and_the_file(tmp_path):
    (tmp_path / "desk.toml").write_text('travel_speed_kmh = "fast"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=rf"^travel_speed_kmh in {tmp_path}/desk.toml: 'fast' is not a number$"):
        load_settings(_env(tmp_path))


def test_a_broken_toml_file_is_one_line(tmp_path):
    (tmp_path / "desk.toml").write_text('tile_url = "https://x/{z}/{x}/{y}.png\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=rf"^{tmp_path}/desk.toml: not valid TOML \(.*line 1.*\)$"):
        load_settings(_env(tmp_path))


def test_preferences_are_saved_to_desk_toml_and_keep_other_keys(tmp_path):
    (tmp_path / "desk.toml").write_text('database_url = "postgresql://desk@db/desk"\nsmtp_from = "a@b"\n',
                                        encoding="utf-8")
    save_preferences(tmp_path, {"assign_radius_km": 12.5, "log_level": "DEBUG", "smtp_from": ""})
    settings = load_settings(_env(tmp_path))
    assert (settings.assign_radius_km, settings.log_level) == (12.5, "DEBUG")
    assert settings.database_url == "postgresql://desk@db/desk"
    assert settings.smtp.from_address == "dispatch@localhost"  # "" removed the key


def test_a_bad_preference_leaves_the_file_as_it_was(tmp_path):
    save_preferences(tmp_path, {"clamd_timeout": 12})
    before = (tmp_path / "desk.toml").read_bytes()
    with pytest.raises(SettingsError, match="^clamd_timeout in .*desk.toml: -1 must be a number above 0$"):
        save_preferences(tmp_path, {"clamd_timeout": -1, "assign_radius_km": 3})
    assert (tmp_path / "desk.toml").read_bytes() == before


def test_the_cli_prints_one_line_for_a_bad_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESK_")}
    env.update(_env(tmp_path, DESK_CLAMD_TIMEOUT="ten"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "desk_desktop", "ticket", "list", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == "error: DESK_CLAMD_TIMEOUT: 'ten' is not a number\n"
    assert proc.stdout == ""


def test_the_gui_prints_one_line_for_a_bad_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY") and not k.startswith("DESK_")}
    env.update(_env(tmp_path, DESK_LOG_LEVEL="loud"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "desk_desktop", "--self-check"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == "error: DESK_LOG_LEVEL: 'loud': expected one of DEBUG, INFO, WARNING, ERROR\n"
