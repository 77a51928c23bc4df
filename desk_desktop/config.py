"""Settings from the environment and ``desk.toml``, each validated. No Qt, no I/O at import.

Every setting has an environment variable and a key in ``desk.toml`` (in the config folder);
the environment wins over the file. ``load_settings()`` reads them once and the result is
passed down explicitly (never a global). A bad value raises ``SettingsError`` whose one-line
message names the setting, where it came from and the value. The Preferences dialog
(ui/settings.py) writes the keys marked "P" to ``desk.toml`` with ``save_preferences``.

=========================  ======================  ===================================================  ==========
variable                   desk.toml key           meaning                                              default
=========================  ======================  ===================================================  ==========
DESK_DATABASE_URL          database_url            shared server, e.g. postgresql://user@host/desk      private
DESK_DB_USER               db_user                 login name offered by the login dialog               (none)
DESK_DATA_DIR              data_dir                data folder (private cluster, caches)                platformdirs
DESK_CONFIG_DIR            (environment only)      config folder (``desk.toml``)                        platformdirs
DESK_CLUSTER_USER          cluster_user            system user that runs the private cluster as root    postgres
DESK_PG_BINDIR             pg_bindir               PostgreSQL server binaries                           newest found
DESK_CLAMD                 clamd               P   clamd address: ``unix:/path`` or ``tcp:host:port``   unix:/run/clamav/clamd.ctl
DESK_CLAMD_TIMEOUT         clamd_timeout       P   seconds                                              30
DESK_CLAMD_MAX_FILE_MB     clamd_max_file_mb       largest file clamd really scans (match clamd.conf's  25
                                                   MaxFileSize/MaxScanSize/StreamMaxLength); larger
                                                   files are marked "not scanned", never "clean"
DESK_SMTP_URL              smtp_url            P   smtp://user:pass@host:port (smtps:// for TLS,        (none: email off)
                                                   ?starttls=1 for STARTTLS)
DESK_SMTP_FROM             smtp_from           P   sender address                                       dispatch@localhost
DESK_TILE_URL              tile_url            P   map tiles URL template with {z}, {x}, {y}            OpenStreetMap
DESK_TILE_ATTRIBUTION      tile_attribution    P   attribution text for the tiles                       © OpenStreetMap
DESK_OFFLINE_MAP           offline_map         P   regional .pmtiles file drawn when tiles are out      (none)
                                                   of reach
DESK_GEOCODER_URL          geocoder_url            Nominatim-compatible geocoder for site addresses     (none: click map)
DESK_ASSIGN_RADIUS_KM      assign_radius_km    P   radius for the ``nearest`` strategy                  100
DESK_MAX_ATTACHMENT_MB     max_attachment_mb   P   default upload limit for new organizations           100
DESK_TRAVEL_SPEED_KMH      travel_speed_kmh    P   average driving speed for travel-time estimates      40
DESK_ROAD_FACTOR           road_factor         P   road distance / straight line, for day planning      1.3
DESK_OPTIMIZE_SECONDS      optimize_seconds    P   time budget of "Optimize day" (seconds)              10
DESK_LOG_LEVEL             log_level           P   DEBUG, INFO, WARNING or ERROR (log file and stderr)  INFO
=========================  ======================  ===================================================  ==========
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = "&copy; OpenStreetMap contributors"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
CONFIG_FILE = "desk.toml"


class SettingsError(ValueError):
    """A setting with a bad value; the message is one line naming the setting and the value."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 25
    use_tls: bool = False
    starttls: bool = False
    user: str = ""
    password: str = ""
    from_address: str = "dispatch@localhost"
    timeout: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_url(cls, url: str, from_address: str = "dispatch@localhost") -> SmtpSettings:
        from urllib.parse import parse_qs, unquote, urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("expected smtp://host:port or smtps://host:port")
        if not parts.hostname:
            raise ValueError("no host name")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the port is not a number from 1 to 65535") from None
        query = parse_qs(parts.query)
        use_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if use_tls else 25),
            use_tls=use_tls,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            from_address=query.get("from", [from_address])[0],
        )


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".")
    config_dir: Path = Path(".")
    cluster_user: str = "postgres"
    pg_bindir: str | None = None
    clamd_address: str = "unix:/run/clamav/clamd.ctl"
    clamd_timeout: float = 30.0
    clamd_max_file_bytes: int = 25 * 1024 * 1024
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    tile_url: str = DEFAULT_TILE_URL
    tile_attribution: str = DEFAULT_TILE_ATTRIBUTION
    offline_map: Path | None = None
    geocoder_url: str | None = None
    assign_radius_km: float = 100.0
    max_attachment_bytes: int = 100 * 1024 * 1024
    travel_speed_kmh: float = 40.0
    road_factor: float = 1.3
    optimize_seconds: float = 10.0
    log_level: str = "INFO"
    # Optional login details for a shared server (password comes from the keyring).
    db_user: str | None = None
    # The change listener's own address (LISTEN needs a session, e.g. PgBouncer in session mode).
    listen_url: str | None = None

    @property
    def uses_private_cluster(self) -> bool:
        return not self.database_url

    @property
    def config_file(self) -> Path:
        return self.config_dir / CONFIG_FILE

    def with_database_url(self, url: str | None) -> Settings:
        return replace(self, database_url=url)


def default_dirs() -> tuple[Path, Path]:
    """(data folder, config folder) of this platform, e.g. ~/.local/share/desk-desktop, ~/.config/desk-desktop."""
    from platformdirs import user_config_dir, user_data_dir

    return Path(user_data_dir("desk-desktop", False)), Path(user_config_dir("desk-desktop", False))


def read_config_file(path: Path) -> dict[str, Any]:
    """The keys of ``desk.toml`` (empty when there is no file)."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror})") from None


class _Source:
    """Looks a setting up in the environment, then in desk.toml, and names it in error messages."""

    def __init__(self, env: dict[str, str], file_values: dict[str, Any], config_file: Path) -> None:
        self.env = env
        self.file_values = file_values
        self.config_file = config_file

    def _lookup(self, var: str, key: str) -> tuple[Any, str] | None:
        if self.env.get(var):
            return self.env[var], var
        if key in self.file_values:
            return self.file_values[key], f"{key} in {self.config_file}"
        return None

    def text(self, var: str, key: str, default: str | None = None) -> str | None:
        found = self._lookup(var, key)
        if found is None:
            return default
        value, name = found
        if not isinstance(value, str):
            raise SettingsError(f"{name}: {value!r} is not text")
        return value

    def number(self, var: str, key: str, default: float, *, minimum: float = 0.0) -> float:
        found = self._lookup(var, key)
        if found is None:
            return default
        value, name = found
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{name}: {value!r} is not a number") from None
        if isinstance(value, bool) or not math.isfinite(number) or number <= minimum:
            raise SettingsError(f"{name}: {value!r} must be a number above {minimum:g}")
        return number

    def check(self, var: str, key: str, value: str | None, test) -> None:
        """Run ``test(value)``; its ValueError becomes a SettingsError naming the setting."""
        if value is None:
            return
        try:
            test(value)
        except ValueError as exc:
            name = var if self.env.get(var) else f"{key} in {self.config_file}"
            raise SettingsError(f"{name}: {value!r}: {exc}") from None


def _check_clamd(value: str) -> None:
    if value.startswith(("unix:/", "/")):
        return
    if value.startswith("tcp:"):
        _host, sep, port = value[4:].lstrip("/").rpartition(":")
        if sep and port.isdigit() and 0 < int(port) < 65536:
            return
    raise ValueError("expected unix:/path/to/clamd.ctl or tcp:HOST:PORT")


def _check_tile_url(value: str) -> None:
    if value and not (value.startswith(("http://", "https://")) and all(p in value for p in ("{z}", "{x}", "{y}"))):
        raise ValueError("expected an http(s) URL with {z}, {x} and {y}")


def _check_geocoder_url(value: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise ValueError("expected an http(s) URL of a Nominatim-compatible service, e.g. https://nominatim.example.org")


def _check_log_level(value: str) -> None:
    if value.upper() not in LOG_LEVELS:
        raise ValueError("expected one of " + ", ".join(LOG_LEVELS))


def _check_offline_map(value: str) -> None:
    path = Path(value).expanduser()
    if path.suffix != ".pmtiles":
        raise ValueError("expected a .pmtiles file")
    if not path.is_file():
        raise ValueError("no such file")


def _check_database_url(value: str) -> None:
    if not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        raise ValueError("expected postgresql://user@host/database")


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: ``os.environ``) and ``desk.toml`` if present."""
    env = dict(os.environ if env is None else env)
    config_file = Path(env.get("DESK_CONFIG_DIR") or default_dirs()[1]) / CONFIG_FILE
    return _settings_from(env, read_config_file(config_file), config_file)


def _settings_from(env: dict[str, str], file_values: dict[str, Any], config_file: Path) -> Settings:
    src = _Source(env, file_values, config_file)

    database_url = src.text("DESK_DATABASE_URL", "database_url")
    src.check("DESK_DATABASE_URL", "database_url", database_url, _check_database_url)
    clamd = src.text("DESK_CLAMD", "clamd", "unix:/run/clamav/clamd.ctl")
    src.check("DESK_CLAMD", "clamd", clamd, _check_clamd)
    tile_url = src.text("DESK_TILE_URL", "tile_url", DEFAULT_TILE_URL)
    src.check("DESK_TILE_URL", "tile_url", tile_url, _check_tile_url)
    log_level = src.text("DESK_LOG_LEVEL", "log_level", "INFO")
    src.check("DESK_LOG_LEVEL", "log_level", log_level, _check_log_level)
    offline_map = src.text("DESK_OFFLINE_MAP", "offline_map")
    src.check("DESK_OFFLINE_MAP", "offline_map", offline_map, _check_offline_map)

    geocoder_url = src.text("DESK_GEOCODER_URL", "geocoder_url")
    src.check("DESK_GEOCODER_URL", "geocoder_url", geocoder_url, _check_geocoder_url)
    smtp_from = src.text("DESK_SMTP_FROM", "smtp_from", "dispatch@localhost")
    smtp_url = src.text("DESK_SMTP_URL", "smtp_url")
    src.check("DESK_SMTP_URL", "smtp_url", smtp_url, lambda url: SmtpSettings.from_url(url, smtp_from))
    smtp = SmtpSettings.from_url(smtp_url, smtp_from) if smtp_url else SmtpSettings(from_address=smtp_from)
    return Settings(
        database_url=database_url,
        data_dir=Path(src.text("DESK_DATA_DIR", "data_dir", str(default_dirs()[0]))).expanduser(),
        config_dir=config_file.parent,
        cluster_user=src.text("DESK_CLUSTER_USER", "cluster_user", "postgres"),
        pg_bindir=src.text("DESK_PG_BINDIR", "pg_bindir"),
        clamd_address=clamd,
        clamd_timeout=src.number("DESK_CLAMD_TIMEOUT", "clamd_timeout", 30.0),
        clamd_max_file_bytes=int(src.number("DESK_CLAMD_MAX_FILE_MB", "clamd_max_file_mb", 25.0) * 1024 * 1024),
        smtp=smtp,
        tile_url=tile_url,
        tile_attribution=src.text("DESK_TILE_ATTRIBUTION", "tile_attribution", DEFAULT_TILE_ATTRIBUTION),
        offline_map=Path(offline_map).expanduser() if offline_map else None,
        geocoder_url=geocoder_url,
        assign_radius_km=src.number("DESK_ASSIGN_RADIUS_KM", "assign_radius_km", 100.0),
        max_attachment_bytes=int(src.number("DESK_MAX_ATTACHMENT_MB", "max_attachment_mb", 100.0) * 1024 * 1024),
        travel_speed_kmh=src.number("DESK_TRAVEL_SPEED_KMH", "travel_speed_kmh", 40.0),
        road_factor=src.number("DESK_ROAD_FACTOR", "road_factor", 1.3, minimum=0.99),
        optimize_seconds=src.number("DESK_OPTIMIZE_SECONDS", "optimize_seconds", 10.0),
        log_level=log_level.upper(),
        db_user=src.text("DESK_DB_USER", "db_user"),
        listen_url=src.text("DESK_LISTEN_URL", "listen_url"),
    )


# The desk.toml keys the Preferences dialog edits, with the environment variable that overrides each.
PREFERENCE_KEYS = {
    "clamd": "DESK_CLAMD",
    "clamd_timeout": "DESK_CLAMD_TIMEOUT",
    "smtp_url": "DESK_SMTP_URL",
    "smtp_from": "DESK_SMTP_FROM",
    "tile_url": "DESK_TILE_URL",
    "tile_attribution": "DESK_TILE_ATTRIBUTION",
    "offline_map": "DESK_OFFLINE_MAP",
    "assign_radius_km": "DESK_ASSIGN_RADIUS_KM",
    "max_attachment_mb": "DESK_MAX_ATTACHMENT_MB",
    "travel_speed_kmh": "DESK_TRAVEL_SPEED_KMH",
    "road_factor": "DESK_ROAD_FACTOR",
    "optimize_seconds": "DESK_OPTIMIZE_SECONDS",
    "log_level": "DESK_LOG_LEVEL",
}


def save_preferences(config_dir: Path, values: dict[str, Any]) -> None:
    """Validate ``values`` (desk.toml keys; None or "" removes a key) and write them into desk.toml.

    Other keys of the file are kept. The file is replaced atomically and only after every
    value passed validation (SettingsError naming the bad key), so a bad value leaves the
    old file as it was.
    """
    import tomli_w

    unknown = set(values) - set(PREFERENCE_KEYS)
    if unknown:
        raise SettingsError(f"not a preference: {', '.join(sorted(unknown))}")
    path = config_dir / CONFIG_FILE
    merged = read_config_file(path)
    for key, value in values.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    _settings_from({"DESK_CONFIG_DIR": str(config_dir)}, merged, path)  # raises before anything is written
    config_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(CONFIG_FILE + ".tmp")
    tmp.write_text(tomli_w.dumps(merged), encoding="utf-8")
    os.replace(tmp, path)
