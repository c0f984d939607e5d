"""A well's spheroid over time: one identity, Gompertz growth, a necrotic core after ~72 h."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_app.simulation.renderer import NO_ARTEFACTS, Artefacts, SpheroidRenderer, SynthImage
from edge_app.simulation.vocab import ProtocolRow


def identity_seed(seed: int, *parts: object) -> int:
    """A stable seed for one spheroid, e.g. ``identity_seed(seed, plate_id, well, site)``."""
    words = [
        seed,
        *(int.from_bytes(str(p).encode()[:16].ljust(16, b"\0"), "little") for p in parts),
    ]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> 1)


def frame_seed(identity: int, time_index: int) -> int:
    """The camera-noise seed of frame ``time_index`` of one spheroid."""
    return int(np.random.SeedSequence([identity, time_index]).generate_state(1, np.uint64)[0] >> 1)


def render_series(
    row: ProtocolRow,
    hours: Sequence[float],
    identity: int,
    shape: tuple[int, int] = (512, 512),
    *,
    renderer: SpheroidRenderer | None = None,
    artefacts: Artefacts = NO_ARTEFACTS,
) -> list[SynthImage]:
    """Render the same spheroid at each of ``hours`` (``row.hours`` is replaced)."""
    renderer = renderer or SpheroidRenderer()
    return [
        renderer.render(
            row.with_labels(hours=float(h)),
            frame_seed(identity, t),
            shape,
            identity_seed=identity,
            artefacts=artefacts,
        )
        for t, h in enumerate(hours)
    ]
