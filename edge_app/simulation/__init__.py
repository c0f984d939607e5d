"""Synthetic spheroids and simulated plate acquisitions.

The renderer, the label vocabulary that conditions it, spheroid time series and the plate
simulator live here, in the app, so that the demo, the virtual microscope and the benchmarks
use them without the app importing the trainer; the trainer (on top) builds its atlas from
them.
"""

from edge_app.simulation.plate_sim import PlateSimulation, SimulationResult, simulate_plate
from edge_app.simulation.renderer import Artefacts, SpheroidRenderer, SynthImage
from edge_app.simulation.timeseries import identity_seed, render_series
from edge_app.simulation.vocab import ProtocolRow, Vocabulary, VocabularyError

__all__ = [
    "Artefacts",
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
]
