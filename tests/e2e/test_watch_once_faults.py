"""``sentinel watch --once`` on folders that trip a watcher (issues 9 and 12): unreadable,
vanishing and replaced files, a pattern whose ``hours`` group is not a number, an infinite
settle time, and ``sentinel synth plate`` output without ``--pattern``. Each run ends, each
file is stored once (as a result or a failure with its reason)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import tifffile
from typer.testing import CliRunner

from edge_app.cli import app
from edge_app.store import StoreWriter
from tests.support import drawn_spheroid, write_plate_csv

pytestmark = [pytest.mark.usefixtures("no_thread_leak"), pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def _light_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The classical segmenter and no IPP / forecast: these tests are about the source."""
    monkeypatch.setenv("SENTINEL_SEGMENTATION__BACKEND", "classical")
    monkeypatch.setenv("SENTINEL_ENGINES__IPP", "off")
    monkeypatch.setenv("SENTINEL_ENGINES__FORECAST", "off")


def _write(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tifffile.imwrite(tmp, drawn_spheroid(96, 24, seed=seed))
    os.replace(tmp, path)


def _watch_once(folder: Path, db: Path, *extra: str) -> tuple[int, str, float]:
    """Exit code, output, and the seconds from the last frame's write to the exit."""
    result = CliRunner().invoke(app, ["watch", str(folder), "--once", "--headless",
                                      "--db", str(db), *extra])
    ended = time.time()
    if not db.exists():
        return result.exit_code, result.output, float("nan")
    store = StoreWriter(db)
    try:
        last = store.reader().db.execute("select max(stored_at) from frames").fetchone()[0]
    finally:
        store.close()
    return result.exit_code, result.output, ended - (last or ended)


def _frames(db: Path) -> list[tuple]:
    store = StoreWriter(db)
    try:
        return [tuple(r) for r in store.reader().db.execute(
            "select uri, status, reason, well from frames order by id").fetchall()]
    finally:
        store.close()


def test_faulty_files_are_recorded_once_and_the_run_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge_app.sources.folder import source as folder_source
    from edge_app.sources.readers import read_image

    folder = tmp_path / "acq"
    for name in ("locked", "vanish", "replaced", "good1", "good2"):
        _write(folder / f"P1_A1_s0_t24h_{name}.tif", seed=len(name))
    reads: dict[str, int] = {}

    def faulty(path: Path):
        reads[path.name] = reads.get(path.name, 0) + 1
        if "locked" in path.name:
            raise PermissionError(13, "Permission denied", str(path))
        if "vanish" in path.name:
            path.unlink()
        if "replaced" in path.name and reads[path.name] == 1:
            _write(path, seed=99)
        return read_image(path)

    monkeypatch.setattr(folder_source, "read_image", faulty)
    code, output, after_last = _watch_once(folder, tmp_path / "s.sqlite")
    assert code == 0, output
    print(f"\nwatch --once exited {after_last:.2f} s after the last frame was stored")
    assert 0 <= after_last < 10
    rows = {Path(uri).name: (status, reason) for uri, status, reason, _ in
            _frames(tmp_path / "s.sqlite")}
    assert len(rows) == 5 and len(_frames(tmp_path / "s.sqlite")) == 5
    assert rows["P1_A1_s0_t24h_locked.tif"][0] == "failed"
    assert "permission denied" in rows["P1_A1_s0_t24h_locked.tif"][1]
    assert "vanished" in rows["P1_A1_s0_t24h_vanish.tif"][1]
    for name in ("replaced", "good1", "good2"):
        assert rows[f"P1_A1_s0_t24h_{name}.tif"] == ("processed", None)


def test_synth_plate_output_is_parsed_without_a_pattern(tmp_path: Path) -> None:
    plate = write_plate_csv(tmp_path / "plate.csv", ["A10", "B2"])
    out = tmp_path / "run1"
    result = CliRunner().invoke(app, ["synth", "plate", str(out), "--plate", str(plate),
                                      "--rate", "0", "--hours", "24", "--deviations", "0"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.rglob("*.tif"))
    assert names and all("_s0_t24h" in n for n in names), names
    code, output, _ = _watch_once(out, tmp_path / "s.sqlite")
    assert code == 0, output
    wells = sorted(well for _, status, _, well in _frames(tmp_path / "s.sqlite"))
    assert wells == ["A10", "B2"]


def test_an_hours_group_that_captures_t48h_fails_the_frame(tmp_path: Path) -> None:
    folder = tmp_path / "acq"
    _write(folder / "A1_t48h.tif", seed=1)
    code, output, _ = _watch_once(folder, tmp_path / "s.sqlite",
                                  "--pattern", r"^(?P<well>[A-H]\d+)_(?P<hours>[^.]+)")
    assert code == 0, output
    [(_, status, reason, _)] = _frames(tmp_path / "s.sqlite")
    assert status == "failed" and "group 'hours' captured 't48h'" in reason


def test_an_infinite_settle_time_cannot_hang_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "acq"
    _write(folder / "P1_A1_s0_t24h.tif", seed=1)
    monkeypatch.setenv("SENTINEL_SOURCE__SETTLE_S", "1e309")
    code, output, _ = _watch_once(folder, tmp_path / "s.sqlite")
    if code == 2:  # the settings refuse it, in one line
        assert "settle_s" in output and "Traceback" not in output
    else:  # or the source caps it and the run ends
        assert code == 0, output
        assert [status for _, status, _, _ in _frames(tmp_path / "s.sqlite")] == ["processed"]
