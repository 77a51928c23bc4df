"""The technicians and customers views driven as a dispatcher would — the editors' widgets,
the list search, "New customer…" in the new-ticket dialog, the CSV import dialog and the
small map picker — against a real database (demo data) and real worker threads. Saves the
screenshots technicians.png, technician_editor.png and customer_editor.png."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, Qt, QTime, QTimer
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox

from desk_desktop.domain.catalogs import CUSTOMER_TYPES, SKILLS
from desk_desktop.services import people
from desk_desktop.services.catalogs import load_catalogs
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.workers import TaskRunner
from tests.conftest import demo_database, hermetic_settings
from tests.ui.test_tickets_view import _demo_namespace, isolated_settings, pool  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
WAIT = 20_000
WEB_DATA = Path(tempfile.gettempdir()) / "desk-test-map"  # the map profile's cache, as the map tests use


@pytest.fixture(scope="module")
def demo(test_server):
    with demo_database(test_server, "desk_people_ui", tickets=20) as (url, summary):
        yield from _demo_namespace(url, summary)


@pytest.fixture
def ctx(demo, pool):  # noqa: F811 - the pool fixture
    return UiContext(uow_factory=demo.uow_factory, actor=demo.actor,
                     settings=hermetic_settings(data_dir=WEB_DATA), runner=TaskRunner(pool=pool))


def settle(qtbot, ctx):
    qtbot.waitUntil(lambda: ctx.runner.active == 0, timeout=WAIT)
    QApplication.processEvents()


def open_page(qtbot, ctx, cls):
    page = cls(ctx)
    qtbot.addWidget(page)
    page.resize(1252, 860)
    page.show()
    qtbot.waitUntil(lambda: page.model.rowCount() > 0 and not page.is_loading, timeout=WAIT)
    return page


def technicians_page(qtbot, ctx):
    from desk_desktop.ui.people.technicians import TechniciansPage

    return open_page(qtbot, ctx, TechniciansPage)


def customers_page(qtbot, ctx):
    from desk_desktop.ui.people.customers import CustomersPage

    return open_page(qtbot, ctx, CustomersPage)


def loaded(qtbot, editor):
    qtbot.addWidget(editor)
    qtbot.waitUntil(lambda: editor.loaded, timeout=WAIT)
    return editor


def set_interval(chip, start: str, end: str) -> None:
    chip.start_edit.setTime(QTime.fromString(start, "HH:mm"))
    chip.end_edit.setTime(QTime.fromString(end, "HH:mm"))


def fill_day(qtbot, hours, day: str, intervals) -> None:
    """Clear ``day`` with its × buttons and add ``intervals`` with "+ interval"."""
    row = hours.rows[day]
    while row.chips:
        qtbot.mouseClick(row.chips[0].remove_button, Qt.MouseButton.LeftButton)
    for start, end in intervals:
        qtbot.mouseClick(row.add_button, Qt.MouseButton.LeftButton)
        set_interval(row.chips[-1], start, end)


def click_save(qtbot, editor) -> None:
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)


def active_skill_keys(demo) -> list[str]:
    catalogs = load_catalogs(uow=demo.uow_factory(), actor=demo.actor)
    return [e.key for e in catalogs.choices(SKILLS)]


# ------------------------------------------------------------------------------ technicians
def test_a_technician_is_created_and_edited_through_the_editor(qtbot, ctx, demo, isolated_settings):  # noqa: F811
    page = technicians_page(qtbot, ctx)
    editor = loaded(qtbot, page.open_editor(None))
    assert editor.isVisible() and "Times in the organization's time zone" in editor.hours.timezone_label.text()
    qtbot.keyClicks(editor.name_edit, "Zoe Okafor")
    qtbot.keyClicks(editor.email_edit, "zoe.okafor@example.com")
    qtbot.keyClicks(editor.phone_edit, "+1 555 0142")
    first, second = active_skill_keys(demo)[:2]
    editor.skill_combo.setCurrentIndex(editor.skill_combo.findData(first))
    qtbot.mouseClick(editor.add_skill_button, Qt.MouseButton.LeftButton)
    editor.skill_combo.setCurrentIndex(editor.skill_combo.findData(second))
    qtbot.mouseClick(editor.add_skill_button, Qt.MouseButton.LeftButton)
    assert editor.skill_combo.findData(first) == -1  # a skill is offered once
    editor.skills_table.cellWidget(0, 1).setValue(5)
    editor.skills_table.cellWidget(1, 1).setValue(2)
    fill_day(qtbot, editor.hours, "mon", [("07:30", "11:30"), ("12:30", "16:00")])
    qtbot.mouseClick(editor.hours.copy_button, Qt.MouseButton.LeftButton)
    fill_day(qtbot, editor.hours, "fri", [("08:00", "12:00")])
    qtbot.keyClicks(editor.home.fields.lat_edit, "41.8902")
    qtbot.keyClicks(editor.home.fields.lon_edit, "12.4922")
    editor.max_open_spin.setValue(5)
    with qtbot.waitSignal(editor.saved, timeout=WAIT) as saved:
        click_save(qtbot, editor)
    tid = saved.args[0]

    got = people.get_technician(uow=demo.uow_factory(), actor=demo.actor, technician_id=tid).data
    assert (got.name, got.email, got.phone, got.active, got.max_open_work_orders) == \
        ("Zoe Okafor", "zoe.okafor@example.com", "+1 555 0142", True, 5)
    assert got.skills == {first: 5, second: 2}
    hours = {day: [tuple(i) for i in intervals] for day, intervals in got.working_hours.items()}
    assert hours == {**{d: [("07:30", "11:30"), ("12:30", "16:00")] for d in ("mon", "tue", "wed", "thu")},
                     "fri": [("08:00", "12:00")]}
    assert got.home_base == pytest.approx((41.8902, 12.4922))
    qtbot.waitUntil(lambda: page.selected_id() == tid, timeout=WAIT)  # the list shows it, selected

    # Edit it again: the editor shows what was saved; a change is saved.
    editor = loaded(qtbot, page.open_editor(tid))
    assert editor.name_edit.text() == "Zoe Okafor" and editor.home.fields.lat_edit.text() == "41.8902"
    assert [c.value() for c in editor.hours.rows["mon"].chips] == [("07:30", "11:30"), ("12:30", "16:00")]
    assert editor.skills_table.value() == {first: 5, second: 2}
    qtbot.mouseClick(editor.active_check, Qt.MouseButton.LeftButton)
    fill_day(qtbot, editor.hours, "sat", [("09:00", "13:00")])
    with qtbot.waitSignal(editor.saved, timeout=WAIT):
        click_save(qtbot, editor)
    got = people.get_technician(uow=demo.uow_factory(), actor=demo.actor, technician_id=tid).data
    assert got.active is False and [tuple(i) for i in got.working_hours["sat"]] == [("09:00", "13:00")]
    settle(qtbot, ctx)
    page.shutdown()


def test_a_failed_save_keeps_what_was_typed_and_shows_why_next_to_the_field(qtbot, ctx, demo, isolated_settings):  # noqa: F811
    from desk_desktop.ui.people.technician_editor import TechnicianEditor

    editor = loaded(qtbot, TechnicianEditor(ctx))
    editor.show()
    qtbot.keyClicks(editor.email_edit, "nobody@example.com")
    fill_day(qtbot, editor.hours, "tue", [("08:00", "12:00"), ("11:00", "15:00")])  # overlapping
    qtbot.keyClicks(editor.home.fields.lat_edit, "95")
    qtbot.keyClicks(editor.home.fields.lon_edit, "10")
    click_save(qtbot, editor)  # the coordinates cannot even be sent
    assert editor.errors.text("home_base") == "Latitude is between -90 and 90."
    assert editor.save_button.isEnabled() and editor.isVisible()

    editor.home.fields.lat_edit.setText("45")
    before = people.search_technicians(uow=demo.uow_factory(), actor=demo.actor, text="nobody@example.com")
    click_save(qtbot, editor)  # the service refuses: no name, overlapping hours
    qtbot.waitUntil(lambda: bool(editor.errors.text("name")), timeout=WAIT)
    assert editor.errors.text("hours.tue") and editor.hours.error_labels["tue"].isVisible()
    assert editor.errors.text("home_base") == ""
    assert editor.banner.isVisible() and "not saved" in editor.banner.text()
    assert editor.email_edit.text() == "nobody@example.com"  # everything typed is still there
    assert [c.value() for c in editor.hours.rows["tue"].chips] == [("08:00", "12:00"), ("11:00", "15:00")]
    assert editor.home.value() == (45.0, 10.0)
    assert editor.save_button.isEnabled() and editor.save_button.text() == "Save"
    assert people.search_technicians(uow=demo.uow_factory(), actor=demo.actor, text="nobody@example.com") == before

    # An untouched editor closes without asking.
    untouched = loaded(qtbot, TechnicianEditor(ctx))
    untouched.show()
    asked = answer_discard_box("Keep editing")
    untouched.reject()
    qtbot.wait(50)
    assert asked == [] and not untouched.isVisible()

    # Fixed, it saves.
    qtbot.keyClicks(editor.name_edit, "Nadia Brandt")
    fill_day(qtbot, editor.hours, "tue", [("08:00", "12:00"), ("13:00", "15:00")])
    with qtbot.waitSignal(editor.saved, timeout=WAIT):
        click_save(qtbot, editor)
    settle(qtbot, ctx)


def test_search_filters_the_technicians_list(qtbot, ctx, demo, isolated_settings):  # noqa: F811
    page = technicians_page(qtbot, ctx)
    everyone = page.model.rowCount()
    name = page.model.rows[3].name
    word = name.split()[-1]
    qtbot.keyClicks(page.search_edit, word)
    qtbot.waitUntil(lambda: not page.is_loading and 0 < page.model.rowCount() < everyone, timeout=WAIT)
    shown = [r.name for r in page.model.rows]
    assert name in shown and all(word.lower() in (r.name + (r.email or "")).lower() for r in page.model.rows)
    assert f"matching “{word}”" in page.status.text()
    page.search_edit.clear()
    qtbot.waitUntil(lambda: not page.is_loading and page.model.rowCount() == everyone, timeout=WAIT)
    skill_names = page.model.index(0, 1).data()
    assert skill_names and "_" not in skill_names  # the catalog's display names, not keys
    settle(qtbot, ctx)
    page.shutdown()


def test_a_technician_added_elsewhere_appears_when_the_change_is_announced(qtbot, ctx, demo, isolated_settings):  # noqa: F811
    page = technicians_page(qtbot, ctx)
    before = page.model.rowCount()
    tid = people.add_technician(uow=demo.uow_factory(), actor=demo.actor,
                                data=people.TechnicianData(name="Quentin Added-Elsewhere"))
    ctx.live.changed.emit("technician", tid, "created")  # what the LISTEN thread relays
    qtbot.waitUntil(lambda: page.model.rowCount() == before + 1, timeout=WAIT)
    assert page.model.row_of(tid) >= 0
    settle(qtbot, ctx)
    page.shutdown()


# ------------------------------------------------------------------------------ customers
def fill_site(qtbot, dialog, ref: str, name: str, address: str, lat: str, lon: str) -> None:
    qtbot.keyClicks(dialog.ref_edit, ref)
    qtbot.keyClicks(dialog.name_edit, name)
    qtbot.keyClicks(dialog.address_edit, address)
    qtbot.keyClicks(dialog.location.fields.lat_edit, lat)
    qtbot.keyClicks(dialog.location.fields.lon_edit, lon)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def fill_customer(qtbot, editor, demo, ref: str, name: str) -> str:
    qtbot.keyClicks(editor.ref_edit, ref)
    qtbot.keyClicks(editor.name_edit, name)
    catalogs = load_catalogs(uow=demo.uow_factory(), actor=demo.actor)
    ctype = catalogs.choices(CUSTOMER_TYPES)[-1].key
    editor.type_combo.setCurrentIndex(editor.type_combo.findData(ctype))
    qtbot.keyClicks(editor.email_edit, "facilities@example.com")
    return ctype


def answer_discard_box(button: str) -> list[str]:
    """Clicks ``button`` in the "Unsaved changes" box as soon as one opens; the list gets the
    box's question (stays empty when no box opened)."""
    asked: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == "DiscardChangesBox":
            asked.append(box.text())
            next(b for b in box.buttons() if b.text() == button).click()

    QTimer.singleShot(0, answer)
    return asked


def test_a_customer_with_two_sites(qtbot, ctx, demo, isolated_settings):  # noqa: F811
    page = customers_page(qtbot, ctx)
    editor = loaded(qtbot, page.open_editor(None))
    ctype = fill_customer(qtbot, editor, demo, "C-9001", "Harbour Lights Hotel")
    fill_site(qtbot, editor.edit_site(None), "S-9001", "Main building", "1 Quay Street, Galway", "53.2707", "-9.0568")
    fill_site(qtbot, editor.edit_site(None), "S-9002", "Annex", "3 Quay Street, Galway", "53.2711", "-9.0561")
    assert editor.sites_table.rowCount() == 2 and editor.sites_table.item(1, 0).text() == "S-9002"
    with qtbot.waitSignal(editor.saved, timeout=WAIT) as saved:
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    cid = saved.args[0]
    got = people.get_customer(uow=demo.uow_factory(), actor=demo.actor, customer_id=cid).data
    assert (got.ref, got.name, got.customer_type, got.email) == ("C-9001", "Harbour Lights Hotel", ctype,
                                                                 "facilities@example.com")
    assert [(s.ref, s.name, s.address) for s in got.sites] == [("S-9001", "Main building", "1 Quay Street, Galway"),
                                                                ("S-9002", "Annex", "3 Quay Street, Galway")]
    assert got.sites[1].location == pytest.approx((53.2711, -9.0561))
    qtbot.waitUntil(lambda: page.selected_id() == cid, timeout=WAIT)

    # A taken ref: the message is next to the ref, the form keeps what was typed.
    editor = loaded(qtbot, page.open_editor(None))
    fill_customer(qtbot, editor, demo, "C-9001", "Someone Else")
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(editor.errors.text("ref")), timeout=WAIT)
    assert "C-9001" in editor.errors.text("ref") and editor.name_edit.text() == "Someone Else"
    # Cancel with unsaved edits asks first: "Keep editing" keeps them, "Discard changes" closes.
    asked = answer_discard_box("Keep editing")
    editor.reject()
    assert asked == ["Discard your changes to this customer?"]
    assert editor.isVisible() and editor.name_edit.text() == "Someone Else"
    asked = answer_discard_box("Discard changes")
    qtbot.mouseClick(editor.cancel_button, Qt.MouseButton.LeftButton)
    assert asked and not editor.isVisible()
    settle(qtbot, ctx)
    page.shutdown()


def test_a_site_the_service_refuses_is_named_and_its_editor_shows_the_message(qtbot, ctx, demo, isolated_settings):  # noqa: F811
    from desk_desktop.ui.people.customer_editor import CustomerEditor

    editor = loaded(qtbot, CustomerEditor(ctx))
    editor.show()
    fill_customer(qtbot, editor, demo, "C-9300", "Riverside Clinic")
    site = editor.edit_site(None)
    qtbot.keyClicks(site.ref_edit, "S-9300")
    qtbot.keyClicks(site.name_edit, "Ward B")
    qtbot.mouseClick(site.ok_button, Qt.MouseButton.LeftButton)  # no address
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(editor.errors.text("sites")), timeout=WAIT)
    assert editor.errors.text("sites").startswith("Site S-9300: ")
    assert editor.sites_table.item(0, 0).toolTip() and editor.ref_edit.text() == "C-9300"
    again = editor.edit_site(0)
    assert again.errors.text("address") and again.name_edit.text() == "Ward B"
    qtbot.keyClicks(again.address_edit, "5 River Road, Limerick")
    qtbot.mouseClick(again.ok_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(editor.saved, timeout=WAIT) as saved:
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    got = people.get_customer(uow=demo.uow_factory(), actor=demo.actor, customer_id=saved.args[0]).data
    assert [(s.ref, s.address, s.location) for s in got.sites] == [("S-9300", "5 River Road, Limerick", None)]
    settle(qtbot, ctx)


def test_new_customer_from_the_new_ticket_dialog_is_chosen_with_its_site(qtbot, ctx, demo, isolated_settings):  # noqa: F811
    from desk_desktop.ui.tickets.new_ticket import NewTicketDialog

    dlg = NewTicketDialog(ctx)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.mouseClick(dlg.new_customer_button, Qt.MouseButton.LeftButton)
    from desk_desktop.ui.people.customer_editor import CustomerEditor

    editor = next(w for w in dlg.findChildren(CustomerEditor) if w.isVisible())
    loaded(qtbot, editor)
    fill_customer(qtbot, editor, demo, "C-9100", "Walk-in Bakery")
    fill_site(qtbot, editor.edit_site(None), "S-9100", "Shop", "12 Main Street, Ennis", "52.8436", "-8.9864")
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg._customer is not None and dlg.site_combo.isEnabled(), timeout=WAIT)
    assert dlg.customer_edit.text() == "Walk-in Bakery" and not editor.isVisible()
    site = people.get_customer(uow=demo.uow_factory(), actor=demo.actor, customer_id=dlg._customer.id).data.sites[0]
    assert dlg.site_combo.currentData() == site.id and dlg.site_combo.currentText().startswith("Shop")
    settle(qtbot, ctx)
    dlg.close()


def test_find_from_address_fills_the_location_or_says_why_not(qtbot, demo, pool):  # noqa: F811
    from desk_desktop.ui.people.customer_editor import SiteEditor
    from tests.integration.test_geocoding import Nominatim

    server = Nominatim().start()
    try:
        ctx = UiContext(uow_factory=demo.uow_factory, actor=demo.actor, runner=TaskRunner(pool=pool),
                        settings=hermetic_settings(data_dir=WEB_DATA, geocoder_url=server.url))
        dialog = SiteEditor(ctx)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.keyClicks(dialog.address_edit, "Rue de Rivoli, Louvre, Paris")
        qtbot.mouseClick(dialog.find_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.find_button.isEnabled() and dialog.location.value() is not None, timeout=WAIT)
        assert dialog.location.value() == (48.8606, 2.3376)
        assert dialog.geo_status.text() == "Found: Musée du Louvre, Paris"

        dialog.address_edit.setText("1 Nowhere Lane")
        qtbot.mouseClick(dialog.find_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.geo_status.text().startswith("No match"), timeout=WAIT)
        assert dialog.location.value() == (48.8606, 2.3376)  # what was there stays
        assert dialog.location.map_box.isVisible()  # the dispatcher places it by hand
        qtbot.waitUntil(lambda: dialog.location.map_ready, timeout=WAIT)
        settle(qtbot, ctx)
        dialog.reject()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    finally:
        server.stop()


# ------------------------------------------------------------------------------ import
def test_an_import_with_one_bad_row_names_the_line_and_imports_nothing(qtbot, ctx, demo, tmp_path, isolated_settings):  # noqa: F811
    from desk_desktop.ui.people.import_dialog import ImportDialog

    skill = active_skill_keys(demo)[0]
    path = tmp_path / "technicians.csv"
    path.write_text("name,email,phone,active,skills,hours,home_lat,home_lon,max_open\n"
                    f"Ida Lind,ida@example.com,,yes,{skill}:3,mon 08:00-12:00,59.33,18.06,6\n"
                    f"Ola Berg,ola@example.com,,yes,{skill}:9,mon 08:00-12:00,59.34,18.07,6\n"
                    f"Eva Strand,eva@example.com,,yes,{skill}:2,,59.35,18.08,6\n", encoding="utf-8")
    before = len(people.search_technicians(uow=demo.uow_factory(), actor=demo.actor))
    dialog = ImportDialog(ctx, "technicians")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.load_file(str(path))
    qtbot.waitUntil(lambda: dialog.problems_card.isVisible(), timeout=WAIT)
    problems = [dialog.problems.item(i).text() for i in range(dialog.problems.count())]
    assert len(problems) == 1 and problems[0].startswith("line 3")
    assert dialog.preview.rowCount() == 3 and dialog.preview.item(0, 0).text() == "Ida Lind"
    assert not dialog.import_button.isEnabled() and "nothing was imported" in dialog.status.text()
    assert len(people.search_technicians(uow=demo.uow_factory(), actor=demo.actor)) == before

    # Fixed: it imports, with progress, and says so.
    path.write_text(path.read_text(encoding="utf-8").replace(f"{skill}:9", f"{skill}:4"), encoding="utf-8")
    dialog.load_file(str(path))
    qtbot.waitUntil(lambda: dialog.import_button.isEnabled(), timeout=WAIT)
    moves = []
    dialog._progress.moved.connect(lambda done, total: moves.append((done, total, dialog.progress.isVisible())))
    with qtbot.waitSignal(dialog.imported, timeout=WAIT) as imported:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert imported.args == [3] and moves[-1] == (3, 3, True)  # the bar moved while it ran
    assert dialog.status.text() == "Imported 3 technicians from technicians.csv."
    assert len(people.search_technicians(uow=demo.uow_factory(), actor=demo.actor)) == before + 3
    settle(qtbot, ctx)
    dialog.close()


def test_customers_import_from_the_page_accepts_a_semicolon_windows_1252_file(qtbot, ctx, demo, tmp_path, isolated_settings):  # noqa: F811
    page = customers_page(qtbot, ctx)
    ctype = load_catalogs(uow=demo.uow_factory(), actor=demo.actor).choices(CUSTOMER_TYPES)[0].key
    path = tmp_path / "kunden.csv"
    path.write_bytes(("customer_ref;customer_name;customer_type;email;phone;site_ref;site_name;address;lat;lon\n"
                      f"K-77;Bäckerei Müller;{ctype};;;KS-1;Laden;Hauptstraße 1, München;48.137;11.575\n"
                      f"K-77;Bäckerei Müller;{ctype};;;KS-2;Backstube;Nebenstraße 2, München;48.14;11.58\n")
                     .encode("cp1252"))
    dialog = page.open_import()
    qtbot.addWidget(dialog)
    dialog.load_file(str(path))
    qtbot.waitUntil(lambda: dialog.import_button.isEnabled(), timeout=WAIT)
    assert dialog.preview.item(0, 1).text() == "Bäckerei Müller"
    with qtbot.waitSignal(dialog.imported, timeout=WAIT):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(r.ref == "K-77" and r.sites == 2 for r in page.model.rows), timeout=WAIT)
    settle(qtbot, ctx)
    dialog.close()
    page.shutdown()


# ------------------------------------------------------------------------------ the map picker
def js(qtbot, picker, script: str):
    box = []
    picker.view.page().runJavaScript(f"JSON.stringify(({script}))", 0, lambda result: box.append(result))
    qtbot.waitUntil(lambda: bool(box), timeout=5000)
    return json.loads(box[0])


def test_the_map_picker_places_the_point_from_a_click_and_follows_typed_coordinates(qtbot, ctx):
    from desk_desktop.ui.people.map_picker import LocationPicker

    picker = LocationPicker(ctx.settings)
    qtbot.addWidget(picker)
    picker.resize(600, 320)
    picker.show()
    picker.set_value((48.8566, 2.3522))
    qtbot.mouseClick(picker.map_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: picker.map_ready, timeout=WAIT)
    qtbot.waitUntil(lambda: js(qtbot, picker, "marker && [marker.getLatLng().lat, marker.getLatLng().lng]")
                    == [48.8566, 2.3522], timeout=5000)
    with qtbot.waitSignal(picker.edited, timeout=5000):
        picker.view.page().runJavaScript("map.fire('click', {latlng: L.latLng(45.4642, 9.19)});")
    assert picker.value() == (45.4642, 9.19)
    picker.fields.lat_edit.clear()
    qtbot.keyClicks(picker.fields.lat_edit, "45.5")
    qtbot.waitUntil(lambda: js(qtbot, picker, "[marker.getLatLng().lat, marker.getLatLng().lng]") == [45.5, 9.19],
                    timeout=5000)
    picker.shutdown()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # the page goes before the profile


# ------------------------------------------------------------------------------ screenshots
@pytest.fixture(scope="module")
def pristine_demo(test_server):
    with demo_database(test_server, "desk_people_shots", tickets=60) as (url, summary):
        yield from _demo_namespace(url, summary)


def overlay(win, dialog) -> QPixmap:
    """The main window dimmed with ``dialog`` centred on it, as a dispatcher sees it."""
    shot = win.grab()
    painter = QPainter(shot)
    painter.fillRect(shot.rect(), QColor(20, 30, 45, 110))
    pix = dialog.grab()
    x = (shot.width() - pix.width()) // 2
    y = max(10, (shot.height() - pix.height()) // 2)
    painter.fillRect(x - 1, y - 1, pix.width() + 2, pix.height() + 2, QColor("#9aa6b4"))
    painter.drawPixmap(x, y, pix)
    painter.end()
    return shot


def test_screenshots(qtbot, pristine_demo, pool, isolated_settings):  # noqa: F811
    from desk_desktop.bootstrap import Database
    from desk_desktop.resources import resource_path
    from desk_desktop.ui.main_window import MainWindow

    demo = pristine_demo
    app = QApplication.instance()
    old_style = app.styleSheet()
    app.setStyleSheet(resource_path("styles", "app.qss").read_text(encoding="utf-8"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = UiContext(uow_factory=demo.uow_factory, actor=demo.actor, settings=hermetic_settings(data_dir=WEB_DATA),
                    runner=TaskRunner(pool=pool))
    try:
        db = Database(url=demo.url, engine=ctx.uow_factory.engine, uow_factory=ctx.uow_factory)
        win = MainWindow(ctx, db_description=db.describe)
        qtbot.addWidget(win)
        win.resize(1440, 900)
        win.show()
        win.show_page("technicians")
        page = win.pages["technicians"]
        qtbot.waitUntil(lambda: page.model.rowCount() > 0 and not page.is_loading, timeout=WAIT)
        qtbot.waitUntil(lambda: win.conn_label.text().endswith("Connected"), timeout=WAIT)
        busiest = max(page.model.rows, key=lambda r: (r.open_jobs, len(r.skills)))
        page.table.selectRow(page.model.row_of(busiest.id))
        qtbot.wait(200)
        win.grab().save(str(SHOTS / "technicians.png"))

        editor = loaded(qtbot, page.open_editor(busiest.id))
        editor.resize(1100, 860)
        qtbot.mouseClick(editor.home.map_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: editor.home.map_ready, timeout=WAIT)
        qtbot.wait(600)  # the tiles draw
        overlay(win, editor).save(str(SHOTS / "technician_editor.png"))
        editor.reject()

        win.show_page("customers")
        customers = win.pages["customers"]
        qtbot.waitUntil(lambda: customers.model.rowCount() > 0 and not customers.is_loading, timeout=WAIT)
        customer = max(customers.model.rows, key=lambda r: r.sites)
        editor = loaded(qtbot, customers.open_editor(customer.id))
        qtbot.wait(200)
        overlay(win, editor).save(str(SHOTS / "customer_editor.png"))
        editor.reject()
        for name in ("technicians.png", "technician_editor.png", "customer_editor.png"):
            pix = QPixmap(str(SHOTS / name))
            assert (pix.width(), pix.height()) == (1440, 900), name
        settle(qtbot, ctx)
        win.close()
    finally:
        pool.waitForDone(30_000)
        QApplication.processEvents()
        app.setStyleSheet(old_style)
