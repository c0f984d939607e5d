"""``RunStatusBar``: source and state, engines with their runtimes, rate, queue, latency and
failed frames (click for the list with reasons)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QStatusBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edge_app.dashboard.live import RunInfo, status_line


class FailuresDialog(QDialog):
    """The failed frames with their reasons, newest first."""

    def __init__(self, failures: tuple[tuple[str, str], ...], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"{len(failures)} failed frame(s)")
        self.table = QTableWidget(len(failures), 2, self)
        self.table.setHorizontalHeaderLabels(["file", "reason"])
        for r, (uri, reason) in enumerate(failures):
            self.table.setItem(r, 0, QTableWidgetItem(uri))
            self.table.setItem(r, 1, QTableWidgetItem(reason))
        self.table.resizeColumnsToContents()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(760, 320)


class RunStatusBar(QStatusBar):
    def __init__(self, run: RunInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run = run
        self.labels = {k: QLabel(self) for k in ("source", "engines", "rate", "queue", "latency")}
        for label in self.labels.values():
            self.addWidget(label)
        self.failed = QPushButton("failed frames: 0", self)
        self.failed.setFlat(True)
        self.failed.clicked.connect(self.show_failures)
        self.addPermanentWidget(self.failed)
        self.failures: tuple[tuple[str, str], ...] = ()
        self.dialog: FailuresDialog | None = None
        self.set_run(run)

    def set_run(self, run: RunInfo) -> None:
        self.run = run
        runtimes = " · ".join(f"{k} {v.rpartition('(')[2].rstrip(')') or v}"
                             for k, v in run.engines.items())
        self.labels["engines"].setText(runtimes or "engines: as recorded with the run")
        self.labels["engines"].setToolTip("\n".join(f"{k}: {v}" for k, v in run.engines.items()))
        self.set_status(None)

    def set_status(self, status: Any | None) -> None:
        fields = status_line(status)
        self.labels["source"].setText(f"source: {self.run.source} ({fields['state']})")
        for key in ("rate", "queue", "latency"):
            self.labels[key].setText(fields[key])
            self.labels[key].setVisible(bool(fields[key]))

    def set_failures(self, failures: tuple[tuple[str, str], ...]) -> None:
        self.failures = failures
        self.failed.setText(f"failed frames: {len(failures)}")
        self.failed.setStyleSheet("color:#d62728; font-weight:bold" if failures else "")

    def show_failures(self) -> FailuresDialog:
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = FailuresDialog(self.failures, self.window())
        self.dialog.show()
        return self.dialog
