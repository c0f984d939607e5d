"""The spool: append-only fsynced JSON lines, torn tails cut, replay order kept."""

from __future__ import annotations

from edge_app.store.spool import Spool, spool_path


def test_spool_lives_beside_the_database(tmp_path):
    assert spool_path(tmp_path / "run.sqlite") == tmp_path / "run.sqlite.spool"


def test_append_read_replace_keeps_order(tmp_path):
    spool = Spool(tmp_path / "s.spool")
    spool.append([{"n": 1}, {"n": 2}])
    spool.append([{"n": 3}])
    assert len(spool) == 3
    assert [e["n"] for e in Spool(spool.path).read()] == [1, 2, 3]
    spool.replace([{"n": 3}])
    assert [e["n"] for e in spool.read()] == [3]
    spool.replace([])
    assert not spool.path.exists()
    assert len(spool) == 0


def test_torn_last_entry_is_cut_off_on_open(tmp_path):
    path = tmp_path / "s.spool"
    Spool(path).append([{"n": 1}])
    with path.open("ab") as handle:
        handle.write(b'{"n": 2, "frame": {"ur')  # a crash during an append: never acknowledged
    spool = Spool(path)
    assert len(spool) == 1
    assert path.read_bytes().endswith(b"\n")
    spool.append([{"n": 3}])
    assert [e["n"] for e in spool.read()] == [1, 3]


def test_values_survive_a_round_trip(tmp_path):
    entry = {"kind": "frame", "frame": {"uri": "/d/\\xff.tif", "hours": float("inf"),
                                        "site": 2**63 - 1, "label": "a\u00e9\u4e2d"}}
    spool = Spool(tmp_path / "s.spool")
    spool.append([entry])
    assert Spool(spool.path).read() == [entry]
