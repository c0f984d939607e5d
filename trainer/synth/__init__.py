"""Synthetic SLiMIA-like atlas, spheroid time series and plate-acquisition simulator."""

from trainer.synth.atlas import AtlasStream, slimia_stem, write_atlas
from trainer.synth.plate_sim import PlateSimulation, SimulationResult, simulate_plate
from trainer.synth.renderer import Artefacts, SpheroidRenderer, SynthImage
from trainer.synth.timeseries import identity_seed, render_series
from trainer.synth.vocab import ProtocolRow, Vocabulary, VocabularyError

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
