"""The shared-server login dialog, driven like a user would, against the real test cluster.

The test cluster trusts its Unix socket, so password authentication is switched on for
the test's own login role only (tests/pgauth.py). Passwords go to an in-memory keyring.
"""

from __future__ import annotations

import socket
import uuid

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError
from PySide6.QtCore import Qt
from sqlalchemy.engine import make_url

from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import admin
from desk_desktop.services.session_info import (
    KEYRING_SERVICE,
    ConnectionDetails,
    load_login_details,
    save_login_details,
)
from desk_desktop.ui.login import LoginDialog, remembered_login
from desk_desktop.ui.workers import TaskRunner
from tests.pgauth import password_required_for

PASSWORD = "tr0ub4dor&3-long"


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError("not stored")


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


@pytest.fixture(scope="module")
def server(test_server):
    """A database with one organization and one dispatcher who must give a password."""
    url = test_server.create_database("desk_login")
    suffix = uuid.uuid4().hex[:8]
    login = f"t_dana_{suffix}"
    eng = make_engine(url)
    uows = UnitOfWorkFactory(eng)
    admin.add_organization(uow=uows(), slug=f"west-{suffix}", name="West Dispatch")
    admin.add_dispatcher(uow=uows(), org_slug=f"west-{suffix}", login=login, display_name="Dana", password=PASSWORD)
    eng.dispose()
    u = make_url(url)
    details = ConnectionDetails(host=u.query["host"], user=login, database=u.database, sslmode="prefer")
    with password_required_for(test_server, login, dbname=u.database):
        yield details
    test_server.drop_database(url)
    test_server._admin(f'DROP ROLE IF EXISTS "{login}"')


def _dialog(qtbot, details, **kw) -> LoginDialog:
    dlg = LoginDialog(details, runner=TaskRunner(), **kw)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def _type_password(qtbot, dlg, text: str) -> None:
    dlg.password.clear()
    qtbot.keyClicks(dlg.password, text)


def test_wrong_password_is_explained_and_the_user_can_try_again(qtbot, server, memory_keyring, tmp_path):
    dlg = _dialog(qtbot, server)
    assert dlg.user.text() == server.user and dlg.password.text() == ""
    _type_password(qtbot, dlg, "wrong-password")
    qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.error.isVisible() and not dlg.busy, timeout=15000)
    assert "Wrong user name or password" in dlg.error.text()
    assert dlg.isVisible() and dlg.connect_button.isEnabled() and dlg.result_login is None
    assert dlg.password.hasFocus() or dlg.password.selectedText() == "wrong-password"
    assert memory_keyring.store == {}

    _type_password(qtbot, dlg, PASSWORD)
    dlg.remember.setChecked(True)
    with qtbot.waitSignal(dlg.logged_in, timeout=15000) as blocker:
        qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert result.session.organization_name == "West Dispatch" and result.session.display_name == "Dana"
    assert "West Dispatch" in result.session.status_text() and server.user in result.session.status_text()
    assert not dlg.isVisible() and dlg.result() == LoginDialog.DialogCode.Accepted
    # Remembered in the keyring only; the saved login details hold no password.
    assert memory_keyring.store == {(KEYRING_SERVICE, server.keyring_username): PASSWORD}
    save_login_details(tmp_path, result.details)
    assert PASSWORD not in (tmp_path / "login.toml").read_text()
    assert load_login_details(tmp_path) == server

    # Next start: the remembered password logs in without the dialog.
    again = remembered_login(load_login_details(tmp_path))
    assert again is not None and again.session.login_role == server.user
    # And the dialog, if shown, is filled in already.
    dlg2 = _dialog(qtbot, server)
    assert dlg2.password.text() == PASSWORD and dlg2.remember.isChecked()


def test_unticking_remember_removes_the_stored_password(qtbot, server, memory_keyring):
    memory_keyring.set_password(KEYRING_SERVICE, server.keyring_username, "an old password")
    dlg = _dialog(qtbot, server)
    assert dlg.remember.isChecked()
    assert remembered_login(server) is None  # the old password no longer works: no silent login
    _type_password(qtbot, dlg, PASSWORD)
    dlg.remember.setChecked(False)
    with qtbot.waitSignal(dlg.logged_in, timeout=15000):
        qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
    assert memory_keyring.store == {}


def test_unreachable_server_is_explained_and_the_user_can_correct_it(qtbot, server, memory_keyring):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    dlg = _dialog(qtbot, server.with_changes(host="127.0.0.1", port=free_port, sslmode="disable"))
    _type_password(qtbot, dlg, PASSWORD)
    qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.error.isVisible() and not dlg.busy, timeout=15000)
    assert "Cannot reach the server 127.0.0.1:" in dlg.error.text()
    assert dlg.host.hasFocus() or dlg.host.selectedText() == "127.0.0.1"
    # Correct the server (here: the cluster's socket folder) and log in.
    dlg.host.setText(server.host)
    dlg.port.setValue(server.port)
    with qtbot.waitSignal(dlg.logged_in, timeout=15000):
        qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
    assert dlg.result_login.details.host == server.host


def test_a_user_who_is_not_a_dispatcher_is_told_so(qtbot, server, memory_keyring, test_server):
    stranger = f"t_stranger_{uuid.uuid4().hex[:8]}"
    test_server._admin(f'CREATE ROLE "{stranger}" LOGIN')
    try:
        dlg = _dialog(qtbot, server.with_changes(user=stranger))
        qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dlg.error.isVisible() and not dlg.busy, timeout=15000)
        assert "not set up as a dispatcher" in dlg.error.text()
        assert dlg.isVisible()
    finally:
        test_server._admin(f'DROP ROLE IF EXISTS "{stranger}"')


def test_missing_server_name_is_asked_for_without_connecting(qtbot, memory_keyring):
    dlg = _dialog(qtbot, None)
    qtbot.keyClicks(dlg.user, "someone")
    qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.error.isVisible() and not dlg.busy, timeout=5000)
    assert dlg.error.text() == "Enter the server name."


def test_app_start_against_a_shared_server_asks_for_the_password_then_opens_the_main_window(
        qtbot, server, memory_keyring, tmp_path):
    """The real start-up path: the server refuses the password-less login, the login dialog
    appears, the dispatcher types the password, and the main window opens as that dispatcher."""
    from desk_desktop.ui.app import build_main_window
    from desk_desktop.ui.startup import StartupController
    from tests.conftest import hermetic_settings

    url = ConnectionDetails(host=server.host, user=server.user, database=server.database).url(None)
    settings = hermetic_settings(database_url=url, data_dir=tmp_path, config_dir=tmp_path)
    controller = StartupController(settings, build_main_window=build_main_window)
    qtbot.addWidget(controller.window)
    controller.start()
    try:
        qtbot.waitUntil(lambda: controller.login_dialog is not None and controller.login_dialog.isVisible(),
                        timeout=30000)
        dlg = controller.login_dialog
        qtbot.addWidget(dlg)
        assert dlg.user.text() == server.user
        _type_password(qtbot, dlg, PASSWORD)
        qtbot.mouseClick(dlg.connect_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: controller.main_window is not None, timeout=60000)
        window = controller.main_window
        qtbot.addWidget(window)
        assert "West Dispatch" in window.org_label.text()
        qtbot.waitUntil(lambda: server.user in window.db_label.text(), timeout=20000)
        assert PASSWORD not in (tmp_path / "login.toml").read_text()
        window._confirm_discard = lambda dirty: True
        window.close()
        window.deleteLater()
    finally:
        controller.shutdown()
