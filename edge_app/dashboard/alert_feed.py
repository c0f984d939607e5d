"""``AlertFeed``: the live alert list with filters and review buttons.

The table model only adapts :class:`AlertRow` values; decisions leave as a
``reviewRequested(alert_id, state, note)`` signal that the window writes to the store.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from edge_app.dashboard.plate_view import SEVERITY_COLOURS
from edge_app.dashboard.snapshot import AlertRow, FeedFilter
from edge_app.store.reviews import TRANSITIONS

COLUMNS = ("#", "state", "severity", "well", "kind", "label", "what", "review")
WIDTHS = (36, 92, 62, 42, 64, 110, 300, 110)
ANY = "any"
KEYS = {Qt.Key.Key_A: "acknowledged", Qt.Key.Key_C: "confirmed", Qt.Key.Key_D: "dismissed"}
Index = QModelIndex | QPersistentModelIndex


class AlertTableModel(QAbstractTableModel):
    """Rows of :class:`AlertRow`; notices (pinned) are bold."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: tuple[AlertRow, ...] = ()

    def set_rows(self, rows: tuple[AlertRow, ...]) -> None:
        if rows == self.rows:
            return
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.rows[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.message + (f"\nreview: {row.reviewer}: {row.note}" if row.note else "")
        if role == Qt.ItemDataRole.FontRole and row.pinned:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and column == "severity":
            return QBrush(QColor(SEVERITY_COLOURS.get(row.severity, "#ffffff")).lighter(150))
        if role == Qt.ItemDataRole.ForegroundRole and row.state in ("confirmed", "dismissed"):
            return QBrush(QColor("#777777"))
        return None

    @staticmethod
    def _text(row: AlertRow, column: str) -> str:
        values = {
            "#": str(row.id), "state": row.state, "severity": row.severity,
            "well": row.well or ("PLATE" if row.pinned else "—"), "kind": row.kind,
            "label": (row.label or "").replace("_", " "), "what": row.message,
            "review": f"{row.reviewer or ''}: {row.note}" if row.note else (row.reviewer or ""),
        }
        return values[column]


class AlertFeed(QWidget):
    """Filters, the alert table, and acknowledge / confirm / dismiss with a note."""

    reviewRequested = Signal(int, str, str)
    alertSelected = Signal(object)  # AlertRow
    exportRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._all: tuple[AlertRow, ...] = ()
        self.model = AlertTableModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        # Fixed widths: measuring every row's text on each update would stall the GUI.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in zip(COLUMNS, WIDTHS, strict=True):
            self.table.setColumnWidth(COLUMNS.index(column), width)
        header.setSectionResizeMode(COLUMNS.index("what"), QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.severity = self._combo(["critical", "warning", "info"])
        self.state = self._combo(["open", "acknowledged", "confirmed", "dismissed"])
        self.label = self._combo([])
        self.note = QLineEdit(self)
        self.note.setPlaceholderText("note (optional), kept with the decision")
        self.buttons = {
            "acknowledged": QPushButton("&Acknowledge [A]", self),
            "confirmed": QPushButton("&Confirm deviation [C]", self),
            "dismissed": QPushButton("&Dismiss false alarm [D]", self),
        }
        self.export_button = QPushButton("Export CSV…", self)
        self.export_button.clicked.connect(self.exportRequested.emit)
        self.count = QLabel(self)
        self._layout()
        for state, button in self.buttons.items():
            button.clicked.connect(lambda _=False, s=state: self.request(s))
        self.table.installEventFilter(self)  # A / C / D while the table has the focus
        self._update_buttons()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.table and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent)
                and event.modifiers() == Qt.KeyboardModifier.NoModifier
                and event.key() in KEYS):
            self.request(KEYS[Qt.Key(event.key())])
            return True
        return super().eventFilter(watched, event)

    def _combo(self, items: list[str]) -> QComboBox:
        combo = QComboBox(self)
        combo.addItems([ANY, *items])
        combo.currentTextChanged.connect(lambda _: self._refilter())
        return combo

    def _layout(self) -> None:
        filters = QHBoxLayout()
        for name, combo in (("severity", self.severity), ("state", self.state),
                            ("label", self.label)):
            filters.addWidget(QLabel(name, self))
            filters.addWidget(combo)
        filters.addStretch(1)
        filters.addWidget(self.count)
        actions = QHBoxLayout()
        actions.addWidget(self.note, 1)
        for button in self.buttons.values():
            actions.addWidget(button)
        actions.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)

    # --- data ---------------------------------------------------------------------------
    def set_alerts(self, rows: tuple[AlertRow, ...]) -> None:
        """Newest state from the snapshot; the selection follows its alert."""
        if rows is self._all:
            return  # the snapshot reused its alerts: nothing changed
        self._all = rows
        labels = sorted({r.label for r in rows if r.label})
        known = [self.label.itemText(i) for i in range(1, self.label.count())]
        for label in labels:
            if label not in known:
                self.label.addItem(label)
        self._refilter()

    def feed_filter(self) -> FeedFilter:
        def value(combo: QComboBox) -> str:
            return "" if combo.currentText() == ANY else combo.currentText()

        return FeedFilter(value(self.severity), value(self.state), value(self.label))

    def _refilter(self) -> None:
        selected = self.selected()
        self.model.set_rows(self.feed_filter().apply(self._all))
        self.count.setText(f"{len(self.model.rows)} of {len(self._all)} alerts")
        if selected is not None:
            self.select(selected.id, emit=False)
        self._update_buttons()

    # --- selection and decisions --------------------------------------------------------
    def selected(self) -> AlertRow | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid() or index.row() >= len(self.model.rows):
            return None
        return self.model.rows[index.row()]

    def select(self, alert_id: int, *, emit: bool = True) -> bool:
        for k, row in enumerate(self.model.rows):
            if row.id == alert_id:
                if not emit:
                    self.table.selectionModel().blockSignals(True)
                self.table.selectRow(k)
                self.table.selectionModel().blockSignals(False)
                return True
        return False

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()
        row = self.selected()
        if row is not None:
            self.alertSelected.emit(row)

    def _update_buttons(self) -> None:
        row = self.selected()
        allowed = TRANSITIONS.get(row.state, frozenset()) if row is not None else frozenset()
        for state, button in self.buttons.items():
            button.setEnabled(state in allowed)

    def request(self, state: str) -> None:
        """Ask for ``state`` on the selected alert (ignored when the workflow forbids it)."""
        row = self.selected()
        if row is None or state not in TRANSITIONS.get(row.state, frozenset()):
            return
        self.reviewRequested.emit(row.id, state, self.note.text().strip())
        self.note.clear()
