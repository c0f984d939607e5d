"""Opening the dashboard: on a finished store (``sentinel review``) or a live run (``watch``,
``demo``), on screen or offscreen for ``--screenshot``."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def display_problem(screenshot: bool = False) -> str | None:
    """Why no window can be shown here, or ``None`` when it can.

    With ``screenshot`` an offscreen window is enough, so only a missing Qt counts.
    """
    import importlib.util

    if importlib.util.find_spec("PySide6") is None or importlib.util.find_spec(
            "pyqtgraph") is None:
        return "PySide6/pyqtgraph are not installed (pip install 'spheroid-sentinel[ui]')"
    if screenshot:
        return None
    if os.environ.get("QT_QPA_PLATFORM", "") == "offscreen":
        return "QT_QPA_PLATFORM=offscreen: there is no screen to show a window on"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return None


def ensure_app(offscreen: bool = False) -> Any:
    """The process's QApplication (created once; offscreen when asked or without a display)."""
    if offscreen or display_problem() is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(["sentinel"])
        app.setApplicationName("Spheroid Sentinel")
    return app


def store_decider(db: Path, reviewer: str | None = None) -> Callable[[int, str, str], None]:
    """A review callable that writes each decision at once on its own connection."""
    from edge_app.store.database import Store
    from edge_app.store.reviews import default_reviewer, review

    who = reviewer or default_reviewer()

    def decide(alert_id: int, state: str, note: str) -> None:
        for attempt in range(5):  # a live run's writer may hold the lock for a moment
            store = Store(db)
            try:
                review(store, alert_id, state, reviewer=who, note=note)
                return
            except sqlite3.OperationalError:
                if attempt == 4:
                    raise
                log.debug("review of alert %s: store busy, retrying", alert_id)
            finally:
                store.close()
            time.sleep(0.2 * (attempt + 1))

    return decide


def build_window(db: Path, *, status: Callable[[], Any] | None = None, run: Any = None,
                 gradcam: Any = None, gradcam_reason: str | None = None,
                 refresh_ms: int = 250) -> Any:
    """A dashboard window on ``db`` with its own snapshot poller (closed with the window)."""
    from edge_app.dashboard.detail import ForecastPreview
    from edge_app.dashboard.snapshot import SnapshotPoller
    from edge_app.dashboard.window import DashboardWindow
    from edge_app.store.database import Store

    poller = SnapshotPoller(db, period_s=refresh_ms / 1000).start()
    window = DashboardWindow(
        poller=poller, open_reader=lambda: Store(db, readonly=True), decide=store_decider(db),
        status=status, run=run, gradcam=gradcam, gradcam_reason=gradcam_reason,
        forecaster=ForecastPreview(), refresh_ms=refresh_ms, close_poller=True)
    return window


def wait_until(app: Any, condition: Callable[[], bool], timeout: float) -> bool:
    """Process events until ``condition()`` or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def show_first_alert(app: Any, window: Any, timeout: float = 20.0) -> None:
    """Select the newest alert that has a well (critical first) and wait for its detail."""
    wait_until(app, lambda: window.snapshot is not None, timeout)
    rows = window.feed.model.rows
    ranked = sorted((r for r in rows if r.well), key=lambda r: (r.severity != "critical",
                                                                r.kind != "protocol", -r.id))
    if ranked:
        window.feed.select(ranked[0].id)
        wait_until(app, lambda: window.detail.view is not None, timeout)
    wait_until(app, lambda: window.plate.up_to_date, 5.0)
    forecast = window.detail.forecast_image
    wait_until(app, lambda: bool(forecast.text()) or not forecast.pixmap().isNull(), 10.0)
    wait_until(app, lambda: not window.detail.own.cells or any(
        c.pixmap() is not None and not c.pixmap().isNull()
        for c in window.detail.own.cells.values()), 5.0)


def save_screenshot(widget: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path)):
        raise OSError(f"cannot write the screenshot {path}")
    return path


def save_panels(window: Any, path: Path) -> list[Path]:
    """The window and its three panels beside it: ``<stem>-plate``, ``-feed``, ``-detail``."""
    path = Path(path)
    saved = [save_screenshot(window, path)]
    for name, widget in (("plate", window.plate), ("feed", window.feed),
                         ("detail", window.detail)):
        saved.append(save_screenshot(widget, path.with_name(f"{path.stem}-{name}{path.suffix}")))
    return saved


def review_store(db: Path, *, screenshot: Path | None = None, gradcam: Any = None,
                 gradcam_reason: str | None = None, panels: bool = False) -> Path | None:
    """``sentinel review``: open a finished run; with ``screenshot`` save it and return."""
    from edge_app.dashboard.live import recorded_run
    from edge_app.store.database import Store

    store = Store(db)  # migrates now (the review workflow may need new columns)
    try:
        run = recorded_run(store)
    finally:
        store.close()
    app = ensure_app(offscreen=screenshot is not None)
    window = build_window(db, run=run, gradcam=gradcam, gradcam_reason=gradcam_reason)
    try:
        window.show()  # offscreen for a screenshot: lays the window out at its real size
        if screenshot is not None:
            show_first_alert(app, window)
            return save_panels(window, screenshot)[0] if panels else save_screenshot(
                window, screenshot)
        app.exec()
        return None
    finally:
        window.shutdown()
        window.deleteLater()
        app.processEvents()


def run_live_with_dashboard(db: Path, run: Callable[[Callable[[Any], None],
                                                     threading.Event], Any], *,
                            source: str, screenshot: Path | None = None,
                            gradcam: Any = None, gradcam_reason: str | None = None) -> Any:
    """Run ``run(on_pipeline, stop)`` on a thread while the dashboard shows the store.

    The window opens at once; the run stops when the window is closed. With ``screenshot``
    the window is offscreen and is saved when the run ends. Returns the run's result.
    """
    from edge_app.dashboard.live import RunInfo, describe_engines

    app = ensure_app(offscreen=screenshot is not None)
    holder: dict[str, Any] = {}
    stop = threading.Event()

    def on_pipeline(pipeline: Any) -> None:
        holder["pipeline"] = pipeline
        info = RunInfo(source=source, engines=describe_engines(pipeline))
        holder["info"] = info

    def status() -> Any:
        pipeline = holder.get("pipeline")
        if "info" in holder and window.status.run is not holder["info"]:
            window.status.set_run(holder["info"])
        return pipeline.status() if pipeline is not None else None

    def body() -> None:
        try:
            holder["result"] = run(on_pipeline, stop)
        except BaseException as exc:  # re-raised on the main thread
            holder["error"] = exc

    window = build_window(db, status=status, run=RunInfo(source=source), gradcam=gradcam,
                          gradcam_reason=gradcam_reason)
    window.show()  # offscreen for a screenshot: lays the window out at its real size
    thread = threading.Thread(target=body, name="live-run", daemon=True)
    thread.start()
    try:
        if screenshot is not None:
            wait_until(app, lambda: not thread.is_alive(), 24 * 3600)
            window.poller.poke()
            wait_until(app, lambda: window.snapshot is not None
                       and window.snapshot.frames >= _frames_now(db), 10.0)
            show_first_alert(app, window)
            save_screenshot(window, screenshot)
        else:
            _close_on_ctrl_c(app, window)
            app.exec()
    finally:
        stop.set()
        thread.join()
        window.shutdown()
        window.deleteLater()
        app.processEvents()
    if "error" in holder:
        raise holder["error"]
    return holder.get("result")


def _frames_now(db: Path) -> int:
    from edge_app.store.database import Store

    store = Store(db, readonly=True)
    try:
        return int(store.db.execute("select count(*) from frames").fetchone()[0])
    finally:
        store.close()


def _close_on_ctrl_c(app: Any, window: Any) -> None:
    """Ctrl-C in the terminal closes the window (Qt's loop would otherwise swallow it)."""
    import signal

    from PySide6.QtCore import QTimer

    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, lambda *_: window.close())
    ticker = QTimer(window)  # lets Python run its signal handlers between Qt events
    ticker.timeout.connect(lambda: None)
    ticker.start(200)
