"""Logging in to a shared server: server, user, password (optionally kept in the keyring), SSL mode.

The private cluster never shows this. Against a shared server the dialog is shown once;
after a successful login with "Remember the password" ticked, the next start logs in
without it (``remembered_login``). The login is tested off the GUI thread; a wrong
password or an unreachable server is explained in the dialog, which stays open so the
user can correct it and try again.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desk_desktop import APP_NAME
from desk_desktop.services.session_info import (
    SSL_MODES,
    ConnectionDetails,
    LoginCheck,
    SessionInfo,
    check_login,
    forget_password,
    recall_password,
    remember_password,
)
from desk_desktop.ui.workers import TaskRunner

SSL_LABELS = {
    "prefer": "prefer (use SSL when the server offers it)",
    "require": "require (always encrypted)",
    "verify-ca": "verify-ca (encrypted, server certificate checked)",
    "verify-full": "verify-full (encrypted, certificate and host name checked)",
    "disable": "disable (no encryption; local networks only)",
}


@dataclass(frozen=True)
class LoginResult:
    details: ConnectionDetails
    password: str | None
    session: SessionInfo

    @property
    def url(self) -> str:
        """The database URL to open (contains the password: keep it in memory only)."""
        return self.details.url(self.password)


def remembered_login(details: ConnectionDetails | None) -> LoginResult | None:
    """Log in silently with the password kept in the keyring, if there is one that still works."""
    if details is None:
        return None
    password = recall_password(details)
    if password is None:
        return None
    result = check_login(details, password)
    if not result.ok or result.session is None:
        return None
    return LoginResult(details, password, result.session)


class LoginDialog(QDialog):
    logged_in = Signal(object)  # LoginResult

    def __init__(self, details: ConnectionDetails | None = None, *, runner: TaskRunner | None = None,
                 check=check_login, message: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{APP_NAME} — log in")
        self.setMinimumWidth(440)
        self._runner = runner or TaskRunner(parent=self)
        self._check = check
        self.result_login: LoginResult | None = None
        self._pending: tuple[ConnectionDetails, str] | None = None
        self._pooler: str | None = None

        intro = QLabel("Log in to your organization's dispatch server.")
        intro.setWordWrap(True)
        self.host = QLineEdit()
        self.host.setPlaceholderText("server name or address, e.g. dispatch.example.com")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(5432)
        self.database = QLineEdit("desk")
        self.user = QLineEdit()
        self.user.setPlaceholderText("your login, e.g. jdoe")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.sslmode = QComboBox()
        for mode in SSL_MODES:
            self.sslmode.addItem(SSL_LABELS[mode], mode)
        self.remember = QCheckBox("Remember the password in this computer's keyring")
        self.error = QLabel(message or "")
        self.error.setWordWrap(True)
        self.error.setProperty("role", "error")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setVisible(bool(message))
        self.status = QLabel("")

        form = QFormLayout()
        form.addRow("&Server", self.host)
        form.addRow("P&ort", self.port)
        form.addRow("&Database", self.database)
        form.addRow("&User", self.user)
        form.addRow("&Password", self.password)
        form.addRow("&SSL", self.sslmode)
        form.addRow("", self.remember)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.connect_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.connect_button.setText("&Log in")
        self.connect_button.setDefault(True)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

        self.buttons.accepted.connect(self._on_login_clicked)
        self.buttons.rejected.connect(self.reject)
        self.remember.toggled.connect(self._on_remember_toggled)
        if details is not None:
            self.set_details(details)

    # ------------------------------------------------------------------ state
    def set_details(self, details: ConnectionDetails) -> None:
        self._pooler = details.pooler  # not edited here: kept from the configured address
        self.host.setText(details.host)
        self.port.setValue(int(details.port))
        self.database.setText(details.database)
        self.user.setText(details.user)
        index = self.sslmode.findData(details.sslmode)
        self.sslmode.setCurrentIndex(max(index, 0))
        remembered = recall_password(details) if details.user and details.host else None
        if remembered is not None:
            self.password.setText(remembered)
            self.remember.setChecked(True)
        (self.password if details.user else self.host if not details.host else self.user).setFocus()

    def details(self) -> ConnectionDetails:
        return ConnectionDetails(host=self.host.text().strip(), user=self.user.text().strip(),
                                 port=self.port.value(), database=self.database.text().strip() or "desk",
                                 sslmode=self.sslmode.currentData(), pooler=self._pooler)

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def _set_busy(self, busy: bool) -> None:
        for w in (self.host, self.port, self.database, self.user, self.password, self.sslmode, self.remember,
                  self.connect_button):
            w.setEnabled(not busy)

    def show_error(self, text: str, field: str | None = None) -> None:
        self.error.setText(text)
        self.error.setVisible(True)
        self.status.setText("")
        target = {"password": self.password, "host": self.host, "database": self.database,
                  "sslmode": self.sslmode, "user": self.user}.get(field or "", self.password)
        target.setFocus()
        if isinstance(target, QLineEdit):
            target.selectAll()

    # ------------------------------------------------------------------ slots
    def _on_remember_toggled(self, checked: bool) -> None:
        if not checked:
            self.status.setText("The password will not be kept on this computer.")

    def _on_login_clicked(self) -> None:
        if self.busy:
            return
        details = self.details()
        password = self.password.text()
        self.error.setVisible(False)
        self.status.setText(f"Connecting to {details.host}…")
        self._pending = (details, password)
        self._set_busy(True)
        self._runner.submit(self._check, details, password or None, owner=self, on_done=self._on_check_done,
                            on_error=self._on_check_failed)

    def _on_check_failed(self, exc: BaseException) -> None:
        self._pending = None
        self._set_busy(False)
        self.show_error(f"Could not log in: {exc}")

    def _on_check_done(self, result: LoginCheck) -> None:
        pending, self._pending = self._pending, None
        self._set_busy(False)
        if not result.ok or result.session is None or pending is None:
            self.show_error(result.message, result.field)
            return
        details, password = pending
        keyring_note = ""
        try:
            if self.remember.isChecked() and password:
                remember_password(details, password)
            else:
                forget_password(details)
        except Exception as exc:  # noqa: BLE001 - no keyring on this computer: still log in
            keyring_note = f" (the password could not be remembered: {exc})"
        self.status.setText(result.message + keyring_note)
        self.result_login = LoginResult(details, password or None, result.session)
        self.logged_in.emit(self.result_login)
        self.accept()
