"""Re-acquired frames: the same URI with new content is a new ``frames`` row, linked back.

A microscope may write an image again under a name it already used (a re-take after a
focus failure). The source delivers it as a new frame; its row is stored beside the old
one (the content hash differs) and ``supersedes`` names the row of the previous version.
"""

from __future__ import annotations

from sqlite_utils import Database


def add_supersedes_column(db: Database) -> None:
    """Migration ``0006_reacquisitions``: a nullable ``frames.supersedes`` frame id."""
    db.table("frames").add_column("supersedes", int)


def link_reacquisition(db: Database, frame_id: int, uri: str) -> int | None:
    """Point a new frame row at the latest earlier row of the same URI; return that id."""
    row = db.execute("select id from frames where uri = ? and id < ? order by id desc limit 1",
                     [uri, frame_id]).fetchone()
    if row is None:
        return None
    db.execute("update frames set supersedes = ? where id = ?", [row[0], frame_id])
    return int(row[0])
