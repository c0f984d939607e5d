"""``GrowthPlot``: a well's spheroid area over time against its group, with forecasts."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QWidget

from edge_app.dashboard.detail import FrameInfo

pg.setConfigOptions(antialias=True, background="w", foreground="#222222")


class GrowthPlot(pg.PlotWidget):
    """Area (px²) vs hours since seeding: this well, its group's median, the forecasts.

    The range is set once per well (never auto-ranged on an update).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        before = set(QApplication.topLevelWidgets())
        super().__init__(parent)
        # pyqtgraph's menus are parentless windows that outlive the plot unless released.
        self._menus = [w for w in QApplication.topLevelWidgets() if w not in before]
        self.setMinimumHeight(180)
        item = self.getPlotItem()
        item.setLabel("bottom", "time since seeding", units="h")
        item.setLabel("left", "spheroid area (px²)")
        item.showGrid(x=True, y=True, alpha=0.25)
        item.disableAutoRange()
        self.legend = item.addLegend(offset=(8, 8))
        self.well_curve = item.plot([], [], pen=pg.mkPen("#d62728", width=2), symbol="o",
                                    symbolBrush="#d62728", symbolSize=7, name="this well")
        self.group_curve = item.plot([], [], pen=pg.mkPen("#555555", width=2,
                                                          style=pg.QtCore.Qt.PenStyle.DashLine),
                                     name="its replicate group (median)")
        self.forecast = item.plot([], [], pen=None, symbol="x", symbolPen=pg.mkPen(
            "#1f77b4", width=2), symbolSize=10, name="forecast from earlier visits")
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#999999", width=1))
        item.addItem(self.cursor)

    def show_well(self, frames: Sequence[FrameInfo],
                  group: Sequence[tuple[float, float]]) -> None:
        pts = [(f.hours, f.area) for f in frames if f.hours is not None and f.area is not None]
        fc = [(f.hours, f.forecast_area) for f in frames
              if f.hours is not None and f.forecast_area is not None]
        self.well_curve.setData([p[0] for p in pts], [p[1] for p in pts])
        self.group_curve.setData([g[0] for g in group], [g[1] for g in group])
        self.forecast.setData([p[0] for p in fc], [p[1] for p in fc])
        xs = [p[0] for p in pts] + [g[0] for g in group] + [p[0] for p in fc]
        ys = [p[1] for p in pts] + [g[1] for g in group] + [p[1] for p in fc]
        if xs:
            span = max(max(xs) - min(xs), 12.0)
            self.setXRange(min(xs) - 0.1 * span, max(xs) + 0.1 * span, padding=0)
            top = max(ys)
            self.setYRange(0, top * 1.15 if top > 0 else 1.0, padding=0)

    def set_cursor(self, hours: float | None) -> None:
        self.cursor.setVisible(hours is not None)
        if hours is not None:
            self.cursor.setValue(hours)

    def release(self) -> None:
        """Hand pyqtgraph's parentless menus to this widget, so Qt deletes them with it."""
        for menu in self._menus:
            menu.setParent(self, menu.windowFlags())
        self._menus = []
