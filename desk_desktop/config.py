"""Settings from the environment (and an optional config file). No Qt, no I/O at import.

Every setting has an environment variable; ``load_settings()`` reads them once and the
result is passed down explicitly (never a global).

=========================  ===================================================  ==========
variable                   meaning                                              default
=========================  ===================================================  ==========
DESK_DATABASE_URL          shared server, e.g. postgresql://user@host/desk        private
DESK_DATA_DIR              data folder (private cluster, caches)                platformdirs
DESK_CONFIG_DIR            config folder (``desk.toml``)                        platformdirs
DESK_CLUSTER_USER          system user that runs the private cluster as root    postgres
DESK_PG_BINDIR             PostgreSQL server binaries                           newest found
DESK_CLAMD                 clamd address: ``unix:/path`` or ``tcp:host:port``   unix:/run/clamav/clamd.ctl
DESK_CLAMD_TIMEOUT         seconds                                              30
DESK_CLAMD_MAX_FILE_MB     largest file clamd really scans (match clamd.conf's  25
                           MaxFileSize/MaxScanSize/StreamMaxLength); larger
                           files are marked "not scanned", never "clean"
DESK_SMTP_URL              smtp://user:pass@host:port (smtps:// for TLS,        (none: email off)
                           ?starttls=1 for STARTTLS)
DESK_SMTP_FROM             sender address                                       dispatch@localhost
DESK_TILE_URL              map tiles URL template                               OpenStreetMap
DESK_TILE_ATTRIBUTION      attribution text for the tiles                       © OpenStreetMap
DESK_ASSIGN_RADIUS_KM      radius for the ``nearest`` strategy                  100
DESK_MAX_ATTACHMENT_MB     default upload limit for new organizations           100
=========================  ===================================================  ==========
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = "&copy; OpenStreetMap contributors"


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
            raise ValueError(f"DESK_SMTP_URL must start with smtp:// or smtps://, got {url!r}")
        query = parse_qs(parts.query)
        use_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "",
            port=parts.port or (465 if use_tls else 25),
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
    assign_radius_km: float = 100.0
    max_attachment_bytes: int = 100 * 1024 * 1024
    # Optional login details for a shared server (password comes from the keyring).
    db_user: str | None = None
    # The change listener's own address (LISTEN needs a session, e.g. PgBouncer in session mode).
    listen_url: str | None = None

    @property
    def uses_private_cluster(self) -> bool:
        return not self.database_url

    def with_database_url(self, url: str | None) -> Settings:
        return replace(self, database_url=url)


def _default_dirs() -> tuple[Path, Path]:
    from platformdirs import user_config_dir, user_data_dir

    return Path(user_data_dir("desk-desktop", False)), Path(user_config_dir("desk-desktop", False))


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: ``os.environ``) and ``desk.toml`` if present."""
    env = dict(os.environ if env is None else env)
    data_default, config_default = _default_dirs()
    config_dir = Path(env.get("DESK_CONFIG_DIR") or config_default)
    file_values: dict = {}
    config_file = config_dir / "desk.toml"
    if config_file.is_file():
        with config_file.open("rb") as fh:
            file_values = tomllib.load(fh)

    def pick(var: str, key: str, default=None):
        if env.get(var):
            return env[var]
        return file_values.get(key, default)

    smtp_from = pick("DESK_SMTP_FROM", "smtp_from", "dispatch@localhost")
    smtp_url = pick("DESK_SMTP_URL", "smtp_url")
    smtp = SmtpSettings.from_url(smtp_url, smtp_from) if smtp_url else SmtpSettings(from_address=smtp_from)
    return Settings(
        database_url=pick("DESK_DATABASE_URL", "database_url"),
        data_dir=Path(pick("DESK_DATA_DIR", "data_dir", str(data_default))).expanduser(),
        config_dir=config_dir,
        cluster_user=pick("DESK_CLUSTER_USER", "cluster_user", "postgres"),
        pg_bindir=pick("DESK_PG_BINDIR", "pg_bindir"),
        clamd_address=pick("DESK_CLAMD", "clamd", "unix:/run/clamav/clamd.ctl"),
        clamd_timeout=float(pick("DESK_CLAMD_TIMEOUT", "clamd_timeout", 30)),
        clamd_max_file_bytes=int(float(pick("DESK_CLAMD_MAX_FILE_MB", "clamd_max_file_mb", 25)) * 1024 * 1024),
        smtp=smtp,
        tile_url=pick("DESK_TILE_URL", "tile_url", DEFAULT_TILE_URL),
        tile_attribution=pick("DESK_TILE_ATTRIBUTION", "tile_attribution", DEFAULT_TILE_ATTRIBUTION),
        assign_radius_km=float(pick("DESK_ASSIGN_RADIUS_KM", "assign_radius_km", 100)),
        max_attachment_bytes=int(float(pick("DESK_MAX_ATTACHMENT_MB", "max_attachment_mb", 100)) * 1024 * 1024),
        db_user=pick("DESK_DB_USER", "db_user"),
        listen_url=pick("DESK_LISTEN_URL", "listen_url"),
    )
