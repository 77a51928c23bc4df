"""Desktop integration: `make install PREFIX=…` puts a valid entry, its icon and valid AppStream metainfo in place."""

from __future__ import annotations

import configparser
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from desk_desktop import APP_ID, __version__

ROOT = Path(__file__).resolve().parents[2]


def test_make_install_puts_a_valid_entry_icon_and_metainfo_in_place(tmp_path):
    prefix = tmp_path / "usr"
    proc = subprocess.run(["make", "--no-print-directory", "install", f"PREFIX={prefix}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

    entry_path = prefix / "share" / "applications" / f"{APP_ID}.desktop"
    check = subprocess.run(["desktop-file-validate", str(entry_path)], capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout == "", check.stdout
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(entry_path, encoding="utf-8")
    desktop = entry["Desktop Entry"]
    # The icon is installed under the name the entry asks for; Wayland matches windows by the
    # entry's file name, which the app sets with setDesktopFileName(APP_ID).
    assert (prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" / f"{desktop['Icon']}.svg").is_file()
    assert desktop["Exec"].split()[0] == APP_ID and desktop["StartupWMClass"] == APP_ID

    (metainfo,) = (prefix / "share" / "metainfo").glob("*.metainfo.xml")
    check = subprocess.run(["appstreamcli", "validate", "--no-net", "--explain", str(metainfo)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert "Validation was successful" in check.stdout
    root = ET.parse(metainfo).getroot()
    assert metainfo.name == f"{root.findtext('id')}.metainfo.xml"
    assert root.findtext("launchable[@type='desktop-id']") == entry_path.name
    assert root.find("releases/release").get("version") == __version__
