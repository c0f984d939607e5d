"""Synthetic SLiMIA-like atlas for training; the renderer and plate simulator it builds on
live in :mod:`edge_app.simulation` (the app's demo and virtual microscope use them too)."""

from edge_app.simulation import (
    Artefacts,
    PlateSimulation,
    ProtocolRow,
    SimulationResult,
    SpheroidRenderer,
    SynthImage,
    Vocabulary,
    VocabularyError,
    identity_seed,
    render_series,
    simulate_plate,
)
from trainer.synth.atlas import AtlasStream, slimia_stem, write_atlas

__all__ = [
    "Artefacts",
    "AtlasStream",
    "PlateSimulation",
    "ProtocolRow",
    "SimulationResult",
    "SpheroidRenderer",
    "SynthImage",
    "Vocabulary",
    "VocabularyError",
    "identity_seed",
    "render_series",
    "simulate_plate",
    "slimia_stem",
    "write_atlas",
]
