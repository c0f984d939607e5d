"""``WellDetail``: what a biologist needs to decide about one well.

The frame with its mask outline and a scrubber over sites and time points; thumbnails of the
well's replicate group and of the group it looks like; expected vs predicted for every label
with probability and conformal set; the alert's evidence; Grad-CAM on demand; the growth
curve against the group with forecasts; the forecast beside the frame that arrived. Data
arrive from the window's worker thread through the ``show_*`` methods; requests for pixels
leave as signals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from edge_app.alerts.ordinal import SILENT_LABELS
from edge_app.dashboard.detail import FrameView, WellContext, conformal_sets
from edge_app.dashboard.growth_plot import GrowthPlot
from edge_app.dashboard.images import to_pixmap

FRAME_SIDE, THUMB_SIDE = 300, 72
TABLE_COLUMNS = ("label", "plate map", "predicted (p)", "conformal set")
NOT_ALERTED = SILENT_LABELS  # recorded, never alerted on (grey, not red)


def evidence_text(evidence: dict[str, Any]) -> str:
    """The alert's evidence in one short paragraph (only the keys present)."""
    parts = []
    if "e_value" in evidence:
        parts.append(f"evidence {_times(evidence['e_value'])} against the plate map")
    if "n_frames" in evidence:
        parts.append(f"over {evidence['n_frames']} frame(s)")
    if evidence.get("sources"):
        parts.append("from " + " + ".join(map(str, evidence["sources"])))
    looks = evidence.get("looks_like") or {}
    if isinstance(looks, dict) and looks.get("value"):
        parts.append(f"looks like the {looks['value']} wells")
    lines = [", ".join(parts)] if parts else []
    for f in evidence.get("frames") or []:
        if isinstance(f, dict):
            name = Path(str(f.get("uri") or "")).name or f"frame {f.get('frame_id', '?')}"
            lines.append(f"  {name}: p(like its replicates) {_num(f.get('p_replicate'))}, "
                         f"p(IPP) {_num(f.get('p_ipp'))}, evidence {_times(f.get('e'))}")
    return "\n".join(lines)


def _times(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    return f"{value:,.0f}×" if value >= 100 else f"{value:.2g}×"


def _num(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3g}"


class Thumbs(QWidget):
    """A titled row of small frames, one per well (a fixed set of cells, reused)."""

    def __init__(self, title: str, parent: QWidget | None = None, limit: int = 5) -> None:
        super().__init__(parent)
        self.title = QLabel(title, self)
        self.row = QHBoxLayout()
        self.row.setSpacing(4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(self.row)
        self.pool = []
        for _ in range(limit):
            cell = QLabel(self)
            cell.setFixedSize(THUMB_SIDE, THUMB_SIDE + 14)
            cell.setAlignment(Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter)
            cell.setStyleSheet("background:#eeeeee; font-size:9pt")
            self.row.addWidget(cell)
            self.pool.append(cell)
        self.more = QLabel(self)
        self.more.setMinimumWidth(64)
        self.row.addWidget(self.more)
        self.row.addStretch(1)
        self.cells: dict[str, QLabel] = {}
        self.set_wells(title, ())

    def set_wells(self, title: str, wells: tuple[str, ...]) -> None:
        self.title.setText(title)
        self.cells = {}
        for k, cell in enumerate(self.pool):
            cell.setVisible(k < len(wells))
            if k < len(wells):
                cell.clear()
                cell.setText(wells[k])
                self.cells[wells[k]] = cell
        extra = len(wells) - len(self.pool)
        self.more.setText(f"+{extra} more" if extra > 0 else ("" if wells else "—"))

    def set_image(self, well: str, image: np.ndarray | None) -> None:
        cell = self.cells.get(well)
        if cell is not None and image is not None:
            pixmap = to_pixmap(image).scaled(THUMB_SIDE, THUMB_SIDE,
                                             Qt.AspectRatioMode.KeepAspectRatio)
            painter = QPainter(pixmap)  # the well's name on its thumbnail
            painter.fillRect(0, pixmap.height() - 16, 34, 16, QColor(255, 255, 255, 210))
            painter.setPen(QColor("black"))
            painter.drawText(3, pixmap.height() - 4, well)
            painter.end()
            cell.setPixmap(pixmap)
            cell.setToolTip(well)


class WellDetail(QWidget):
    """One well, to decide whether an alert is right."""

    frameRequested = Signal(str)
    forecastRequested = Signal(object, object)  # (WellContext, FrameInfo)
    gradcamRequested = Signal(str, str)

    def __init__(self, *, gradcam_reason: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context: WellContext | None = None
        self._generation = 0
        self.view: FrameView | None = None
        self.cam_dialog: QDialog | None = None
        self.qhats: dict[str, float] = {}
        self.header = QLabel("Click a well on the plate, or an alert, to see it here.", self)
        self.header.setWordWrap(True)
        self.frame = QLabel(self)
        self.frame.setFixedSize(FRAME_SIDE, FRAME_SIDE)
        self.frame.setStyleSheet("background:#202020")
        self.forecast = QLabel("forecast vs this frame", self)
        self.forecast.setWordWrap(True)
        self.forecast.setFixedWidth(FRAME_SIDE)
        self.forecast_image = QLabel(self)
        self.forecast_image.setWordWrap(True)
        self.forecast_image.setFixedWidth(FRAME_SIDE)
        self.caption = QLabel(self)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.valueChanged.connect(self._scrubbed)
        self.show_mask = QCheckBox("mask outline", self)
        self.show_mask.setChecked(True)
        self.show_mask.toggled.connect(lambda _: self._redraw())
        self.cam_label = QComboBox(self)
        self.cam_label.setMinimumContentsLength(16)
        self.cam_button = QPushButton("Grad-CAM", self)
        self.cam_button.clicked.connect(self._ask_gradcam)
        self.cam_reason = gradcam_reason
        if gradcam_reason:
            self.cam_button.setEnabled(False)
            self.cam_button.setToolTip(gradcam_reason)
        self.own = Thumbs("own replicate group", self)
        self.looks = Thumbs("looks like", self)
        self.table = QTableWidget(0, len(TABLE_COLUMNS), self)
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.evidence = QLabel(self)
        self.evidence.setWordWrap(True)
        self.plot = GrowthPlot(self)
        self._layout()

    def _layout(self) -> None:
        controls = QHBoxLayout()
        controls.addWidget(self.show_mask)
        controls.addStretch(1)
        controls.addWidget(self.cam_label)
        controls.addWidget(self.cam_button)
        left = QVBoxLayout()
        left.addWidget(self.frame)
        left.addWidget(self.caption)
        left.addWidget(self.slider)
        left.addLayout(controls)
        left.addWidget(self.forecast)
        left.addWidget(self.forecast_image)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.own)
        right.addWidget(self.looks)
        right.addWidget(self.table, 1)
        right.addWidget(self.evidence)
        grid = QGridLayout(self)
        grid.addWidget(self.header, 0, 0, 1, 2)
        grid.addLayout(left, 1, 0)
        grid.addLayout(right, 1, 1)
        grid.addWidget(self.plot, 2, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)

    # --- data from the window -----------------------------------------------------------
    def show_context(self, ctx: WellContext) -> None:
        """Show a well, in a few short steps so the event loop runs between them."""
        self.context, self.view = ctx, None
        self._generation += 1
        generation = self._generation
        steps = [lambda: self._show_header(ctx), lambda: self._show_groups(ctx),
                 self._fill_table, lambda: self._show_plot(ctx), lambda: self._show_frames(ctx)]

        def run(k: int = 0) -> None:
            if generation == self._generation and k < len(steps):
                steps[k]()
                QTimer.singleShot(0, lambda: run(k + 1))

        run()

    def _show_header(self, ctx: WellContext) -> None:
        alert = ctx.alert
        text = f"<b>{ctx.well}</b> on plate '{ctx.plate_id}' — {len(ctx.frames)} frame(s)"
        if alert is not None:
            text += f"<br>alert #{alert.id} [{alert.state}]: {alert.message}"
        self.header.setText(text)
        self.evidence.setText(evidence_text(alert.evidence) if alert is not None else "")

    def _show_groups(self, ctx: WellContext) -> None:
        self.own.set_wells(f"its replicate group ({len(ctx.own_group)} wells, same plate map)",
                           ctx.own_group)
        value = f" {ctx.looks_like_value}" if ctx.looks_like_value else ""
        if not value:
            self.looks.set_wells("what it looks like: only a protocol alert says", ())
        elif ctx.looks_like:
            self.looks.set_wells(f"what it looks like: the wells seeded with{value}",
                                 ctx.looks_like)
        else:
            self.looks.set_wells(f"looks like{value}: no well on this plate is seeded so",
                                 ())

    def _show_plot(self, ctx: WellContext) -> None:
        self.plot.show_well(ctx.frames, ctx.group_curve)

    def _show_frames(self, ctx: WellContext) -> None:
        self.cam_label.clear()
        self.cam_label.addItems(sorted(ctx.expected) or sorted(self._latest_predictions()))
        if ctx.alert is not None and ctx.alert.label:
            self.cam_label.setCurrentText(ctx.alert.label)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(ctx.frames) - 1))
        self.slider.setValue(self._start_index(ctx))
        self.slider.blockSignals(False)
        self._scrubbed(self.slider.value())

    @staticmethod
    def _start_index(ctx: WellContext) -> int:
        """The alert's frame when there is one, else the latest."""
        if ctx.alert is not None:
            for k, f in enumerate(ctx.frames):
                if f.frame_id == ctx.alert.frame_id:
                    return k
        return max(0, len(ctx.frames) - 1)

    def _latest_predictions(self) -> dict[str, dict[str, float]]:
        if self.context is None:
            return {}
        for f in reversed(self.context.frames):
            if f.predictions:
                return f.predictions
        return {}

    def set_qhats(self, qhats: dict[str, float]) -> None:
        self.qhats = qhats
        self._fill_table()

    def _fill_table(self) -> None:
        if self.context is None:
            return
        predictions = self._current_predictions()
        sets = conformal_sets(predictions, self.qhats)
        labels = list(dict.fromkeys([*self.context.expected, *predictions]))
        self.table.setRowCount(len(labels))
        for r, label in enumerate(labels):
            probs = predictions.get(label) or {}
            top = max(probs.items(), key=lambda kv: kv[1]) if probs else None
            exp = self.context.expected.get(label, "—")
            quiet = label in NOT_ALERTED
            cells = (label.replace("_", " ") + (" (never alerts)" if quiet else ""), exp,
                     f"{top[0]} ({top[1]:.0%})" if top else "— (not usable)",
                     "{" + ", ".join(sets[label]) + "}" if label in sets else "—")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if c == 2 and top and exp not in ("—", top[0]):
                    item.setForeground(Qt.GlobalColor.gray if quiet else Qt.GlobalColor.red)
                self.table.setItem(r, c, item)

    def _current_predictions(self) -> dict[str, dict[str, float]]:
        info = self.current_frame()
        return (info.predictions if info is not None and info.predictions
                else self._latest_predictions())

    def current_frame(self) -> Any:
        if self.context is None or not self.context.frames:
            return None
        return self.context.frames[min(self.slider.value(), len(self.context.frames) - 1)]

    def _scrubbed(self, _value: int) -> None:
        info = self.current_frame()
        if info is None or self.context is None:
            self.caption.setText("no frames yet")
            return
        self.caption.setText(info.caption(self.context.well))
        self.plot.set_cursor(info.hours)
        self._fill_table()
        self._forecast_text(info)
        self.forecast_image.clear()
        self.frameRequested.emit(info.uri)
        self.forecastRequested.emit(self.context, info)

    def _forecast_text(self, info: Any) -> None:
        if info.forecast_area_ratio is None:
            self.forecast.setText("forecast: none for this frame (it needs two earlier usable "
                                  "visits of this site)")
            return
        ssim = (f", image similarity to the forecast (SSIM) {info.forecast_ssim:.2f}"
                if info.forecast_ssim is not None else "")
        self.forecast.setText(f"forecast: observed area is {info.forecast_area_ratio:.0%} of the "
                              f"area forecast from earlier visits{ssim}")

    def show_frame(self, view: FrameView) -> None:
        info = self.current_frame()
        if info is None or view.uri != info.uri:
            return  # a late answer for a frame the user has scrubbed past
        self.view = view
        if view.error:
            self.caption.setText(view.error)
        self._redraw()

    def show_forecast(self, info: Any, forecast: np.ndarray | None, actual: np.ndarray | None,
                      message: str) -> None:
        """The forecast image beside the frame that arrived (or why there is none)."""
        if info is not self.current_frame():
            return
        if forecast is None or actual is None:
            self.forecast_image.setText(message)
            return
        gap = np.full((forecast.shape[0], 6), 255, np.uint8)
        pair = to_pixmap(np.hstack([forecast, gap, actual])).scaledToWidth(FRAME_SIDE)
        self.forecast_image.setPixmap(pair)
        self.forecast_image.setToolTip(message)
        self.forecast.setText(self.forecast.text() + f"\n{message}")

    def show_thumbnail(self, well: str, image: np.ndarray | None) -> None:
        self.own.set_image(well, image)
        self.looks.set_image(well, image)

    def show_gradcam(self, uri: str, label: str, image: np.ndarray | None,
                     message: str) -> None:
        """Grad-CAM came back: one heat map per label, in a window beside the detail."""
        self.cam_button.setText("Grad-CAM")
        if image is None:
            self.caption.setText(f"Grad-CAM {label}: {message}")
            return
        if self.cam_dialog is not None:
            self.cam_dialog.close()
        dialog = QDialog(self.window())
        dialog.setWindowTitle(f"Grad-CAM — {Path(uri).name} — {message}")
        shown = QLabel(dialog)
        shown.setPixmap(to_pixmap(image))
        QVBoxLayout(dialog).addWidget(shown)
        dialog.show()
        self.cam_dialog = dialog

    def _redraw(self) -> None:
        if self.view is None:
            return
        masked = self.show_mask.isChecked() and self.view.outlined is not None
        image = self.view.outlined if masked else None
        pixmap = to_pixmap(image if image is not None else self.view.pixels)
        if pixmap.width() > FRAME_SIDE or pixmap.height() > FRAME_SIDE:
            pixmap = pixmap.scaled(FRAME_SIDE, FRAME_SIDE, Qt.AspectRatioMode.KeepAspectRatio)
        self.frame.setPixmap(pixmap)

    def _ask_gradcam(self) -> None:
        info = self.current_frame()
        if info is not None and self.cam_label.currentText():
            self.cam_button.setText("Grad-CAM …")
            self.gradcamRequested.emit(info.uri, self.cam_label.currentText())

