"""``PlateView``: the plate at a glance, drawn with QPainter.

Each well is coloured by its worst open alert (grey when not yet imaged) with a badge giving
the count; a coloured ring marks its replicate group (the plate map's condition), and
hovering tints the whole group and shows the expected protocol and the latest prediction.

Why not pymmcore-widgets' ``WellPlateView``: it is a selection widget for planning an
acquisition (drawn from a ``useq.WellPlatePlan``, colours per well only). Badges, group rings,
hover tinting of a group and a legend would need subclassing its private graphics items, and
it would make the dashboard depend on the whole Micro-Manager stack (pymmcore-plus, useq,
superqt), which folder-watching labs do not install. One QPainter widget of ~200 lines does
exactly what is needed and renders offscreen.

The plate is painted into a ``QImage`` on a worker thread (QPainter on images is
thread-safe) whenever the data, the hover or the size change; the GUI thread only blits the
newest image, so a plate scan never stalls the event loop.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from edge_app.core.wells import ROWS, well_index
from edge_app.dashboard.snapshot import GROUP_LABELS, PlateSnapshot, WellTile

SEVERITY_COLOURS = {"critical": "#d62728", "warning": "#ff9f1c", "info": "#4c8bf5"}
CLEAR_COLOUR, NOT_IMAGED_COLOUR = "#59b36b", "#cfcfcf"
GROUP_PALETTE = ("#6a3d9a", "#1f78b4", "#b15928", "#33a02c", "#e7298a", "#a6761d",
                 "#17becf", "#7f7f7f")
OFF_MAP_COLOUR = "#f7f7f7"
LEGEND = (("critical alert", SEVERITY_COLOURS["critical"]),
          ("warning", SEVERITY_COLOURS["warning"]), ("info", SEVERITY_COLOURS["info"]),
          ("no open alert", CLEAR_COLOUR), ("not imaged yet", NOT_IMAGED_COLOUR),
          ("not in the plate map", OFF_MAP_COLOUR))


def well_colour(tile: WellTile | None) -> str:
    if tile is None or (not tile.imaged and not tile.open_alerts):
        return NOT_IMAGED_COLOUR
    return SEVERITY_COLOURS.get(tile.worst or "", CLEAR_COLOUR)


def tooltip_text(tile: WellTile) -> str:
    """Expected protocol and the latest prediction of a well, as the hover shows them."""
    lines = [f"<b>{tile.well}</b> — {tile.n_frames} frame(s)"
             + (f", latest {tile.latest_hours:g} h" if tile.latest_hours is not None else "")
             + (f", <b>{tile.open_alerts} open alert(s)</b>" if tile.open_alerts else "")]
    lines.append("<table><tr><th align=left>label</th><th align=left>plate map</th>"
                 "<th align=left>predicted</th></tr>")
    for label in dict.fromkeys([*GROUP_LABELS, *tile.expected, *tile.predicted]):
        exp = tile.expected.get(label, "—")
        pred = tile.predicted.get(label)
        shown = f"{pred[0]} ({pred[1]:.0%})" if pred else "—"
        if pred and exp != "—" and pred[0] != exp:
            shown = f"<span style='color:#d62728'>{shown}</span>"
        lines.append(f"<tr><td>{label.replace('_', ' ')}</td><td>{exp}</td><td>{shown}</td></tr>")
    return "".join(lines) + "</table>"



@dataclass(frozen=True)
class PlateScene:
    """Everything one drawing of the plate depends on."""

    plate: PlateSnapshot | None = None
    groups: dict[str, int] = field(default_factory=dict)  # well -> group index
    group_names: tuple[str, ...] = ()
    hover_group: int | None = None
    selected: str | None = None
    width: int = 420
    height: int = 300
    font: QFont = field(default_factory=QFont)

    @property
    def shape(self) -> tuple[int, int]:
        return (16, 24) if self.plate is not None and self.plate.format == 384 else (8, 12)

    def legend_height(self) -> float:
        return 20.0 * 2 + 22.0 * (1 + (len(self.group_names) + 1) // 2)

    def cell(self) -> tuple[float, float, float]:
        rows, cols = self.shape
        top, left = 26.0, 24.0
        size = min((self.width - left - 8) / cols,
                   (self.height - top - self.legend_height() - 10) / rows)
        return left, top, max(size, 6.0)

    def well_rect(self, well: str) -> QRectF:
        left, top, size = self.cell()
        r, c = well_index(well)
        return QRectF(left + c * size, top + r * size, size, size)

    def well_at(self, point: QPointF) -> str | None:
        left, top, size = self.cell()
        rows, cols = self.shape
        c, r = int((point.x() - left) // size), int((point.y() - top) // size)
        if point.x() >= left and point.y() >= top and 0 <= r < rows and 0 <= c < cols:
            return f"{ROWS[r]}{c + 1}"
        return None


def group_scene(plate: PlateSnapshot | None, scene: PlateScene) -> PlateScene:
    groups: dict[str, int] = {}
    names: list[str] = []
    if plate is not None:
        for k, (key, wells) in enumerate(sorted(plate.groups().items())):
            names.append(" · ".join(v for v in key if v) or "(no plate map)")
            groups.update(dict.fromkeys(wells, k))
    return replace(scene, plate=plate, groups=groups, group_names=tuple(names))


def render_plate(scene: PlateScene) -> QImage:
    """Draw the plate, badges, group rings and legend into an image (any thread)."""
    image = QImage(max(1, scene.width), max(1, scene.height), QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    _paint_axes(painter, scene)
    rows, cols = scene.shape
    for r in range(rows):
        for c in range(cols):
            _paint_well(painter, scene, f"{ROWS[r]}{c + 1}")
    _paint_legend(painter, scene)
    painter.end()
    return image


def _paint_axes(painter: QPainter, scene: PlateScene) -> None:
    left, top, size = scene.cell()
    rows, cols = scene.shape
    font = QFont(scene.font)
    font.setPointSizeF(max(6.0, min(10.0, size * 0.32)))
    painter.setFont(font)
    painter.setPen(QColor("#333333"))
    for c in range(cols):
        painter.drawText(QRectF(left + c * size, top - 20, size, 18),
                         Qt.AlignmentFlag.AlignCenter, str(c + 1))
    for r in range(rows):
        painter.drawText(QRectF(0, top + r * size, left - 4, size),
                         Qt.AlignmentFlag.AlignCenter, ROWS[r])


def _paint_well(painter: QPainter, scene: PlateScene, well: str) -> None:
    rect = scene.well_rect(well)
    tile = scene.plate.tiles.get(well) if scene.plate is not None else None
    inner = rect.adjusted(rect.width() * 0.12, rect.height() * 0.12,
                          -rect.width() * 0.12, -rect.height() * 0.12)
    group = scene.groups.get(well)
    ring = QColor(GROUP_PALETTE[group % len(GROUP_PALETTE)]) if group is not None else None
    if ring is not None and group == scene.hover_group:
        painter.fillRect(rect, ring.lighter(170))
    painter.setBrush(QColor(well_colour(tile) if tile is not None else OFF_MAP_COLOUR))
    painter.setPen(QPen(ring, max(2.0, rect.width() * 0.08)) if ring is not None
                   else QPen(QColor("#bbbbbb"), 1))
    painter.drawEllipse(inner)
    if well == scene.selected:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor("black"), 2, Qt.PenStyle.DashLine))
        painter.drawRect(rect.adjusted(1, 1, -1, -1))
    if tile is not None and tile.open_alerts:
        _paint_badge(painter, scene, rect, tile.open_alerts)


def _paint_badge(painter: QPainter, scene: PlateScene, rect: QRectF, count: int) -> None:
    d = max(11.0, rect.width() * 0.42)
    badge = QRectF(rect.right() - d, rect.top(), d, d)
    painter.setBrush(QColor("#222222"))
    painter.setPen(QPen(QColor("white"), 1))
    painter.drawEllipse(badge)
    font = QFont(scene.font)
    font.setPointSizeF(max(5.5, d * 0.42))
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(count) if count < 100 else "99+")


def _legend_items(painter: QPainter, scene: PlateScene) -> list[tuple[QRectF, str, str]]:
    """Legend entries laid out left to right, wrapping at the widget's edge."""
    left, top, size = scene.cell()
    x, y = left, top + scene.shape[0] * size + 10
    out = []
    entries = [*LEGEND, ("n = open alerts", "#222222")]
    for text, colour in entries:
        width = painter.fontMetrics().horizontalAdvance(text) + 28
        if x + width > scene.width and x > left:
            x, y = left, y + 20
        out.append((QRectF(x, y, width, 18), text, colour))
        x += width
    return out


def _paint_legend(painter: QPainter, scene: PlateScene) -> None:
    font = QFont(scene.font)
    font.setPointSizeF(8.5)
    painter.setFont(font)
    items = _legend_items(painter, scene)
    for rect, text, colour in items:
        painter.setBrush(QColor(colour))
        painter.setPen(QPen(QColor("#888888"), 1))
        painter.drawEllipse(QRectF(rect.x(), rect.y() + 3, 12, 12))
        painter.setPen(QColor("#222222"))
        painter.drawText(rect.adjusted(16, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)
    left = scene.cell()[0]
    y = items[-1][0].y() + 22
    width = scene.width - left - 4
    painter.drawText(QRectF(left, y, width, 18), Qt.AlignmentFlag.AlignVCenter,
                     painter.fontMetrics().elidedText(
                         "ring = replicate group (cell line · medium · seeding density · "
                         "method); hover a well to tint its group",
                         Qt.TextElideMode.ElideRight, int(width)) if scene.group_names else "")
    half = max(1.0, width / 2)
    for k, name in enumerate(scene.group_names):
        gx, gy = left + (k % 2) * half, y + 22 * (1 + k // 2)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(GROUP_PALETTE[k % len(GROUP_PALETTE)]), 3))
        painter.drawEllipse(QRectF(gx, gy + 3, 12, 12))
        painter.setPen(QColor("#222222"))
        text = painter.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight,
                                                int(half - 24))
        painter.drawText(QRectF(gx + 16, gy, half - 20, 18), Qt.AlignmentFlag.AlignVCenter,
                         text)


class PlateView(QWidget):
    """The plate grid; emits ``wellClicked(plate_id, well)``. Drawn off the GUI thread."""

    wellClicked = Signal(str, str)
    rendered = Signal(object, object)  # (scene, QImage), from the render thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(420, 300)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.scene = PlateScene(font=QFont(self.font()))
        self.image: QImage | None = None
        self.image_scene: PlateScene | None = None
        self._renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plate-render")
        self._closed = False
        self.rendered.connect(self._rendered, Qt.ConnectionType.QueuedConnection)

    # --- data ---------------------------------------------------------------------------
    def set_plate(self, plate: PlateSnapshot | None) -> None:
        if plate is not self.scene.plate:
            self._redraw(group_scene(plate, self.scene))

    def set_selected(self, well: str | None) -> None:
        self._redraw(replace(self.scene, selected=well))

    @property
    def plate(self) -> PlateSnapshot | None:
        return self.scene.plate

    def group_of(self, well: str) -> list[str]:
        k = self.scene.groups.get(well)
        return [w for w, g in self.scene.groups.items() if g == k] if k is not None else [well]

    def well_rect(self, well: str) -> QRectF:
        return self.scene.well_rect(well)

    def well_at(self, point: QPointF) -> str | None:
        return self.scene.well_at(point)

    @property
    def up_to_date(self) -> bool:
        """True once the image on screen shows the current data, hover and size."""
        return self.image_scene is self.scene

    # --- rendering ----------------------------------------------------------------------
    def _redraw(self, scene: PlateScene) -> None:
        self.scene = scene
        if self._closed:
            return
        self._renderer.submit(self._render, scene)

    def _render(self, scene: PlateScene) -> None:
        if scene is self.scene:  # skip drawings already outdated
            self.rendered.emit(scene, render_plate(scene))

    def _rendered(self, scene: PlateScene, image: QImage) -> None:
        self.image, self.image_scene = image, scene
        self.update()

    def resizeEvent(self, event: object) -> None:
        self._redraw(replace(self.scene, width=self.width(), height=self.height()))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self.image is not None:
            painter.drawImage(0, 0, self.image)
        painter.end()

    def shutdown(self) -> None:
        self._closed = True
        self._renderer.shutdown(wait=True, cancel_futures=True)

    # --- events -------------------------------------------------------------------------
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        well = self.well_at(event.position())
        group = self.scene.groups.get(well) if well else None
        if group != self.scene.hover_group:
            self._redraw(replace(self.scene, hover_group=group))
        tile = self.plate.tiles.get(well) if self.plate is not None and well else None
        if tile is not None:
            QToolTip.showText(event.globalPosition().toPoint(), tooltip_text(tile), self)
        else:
            QToolTip.hideText()

    def leaveEvent(self, event: object) -> None:
        self._redraw(replace(self.scene, hover_group=None))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        well = self.well_at(event.position())
        if well is not None and self.plate is not None and well in self.plate.tiles:
            self.set_selected(well)
            self.wellClicked.emit(self.plate.plate_id, well)
