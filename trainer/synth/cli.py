"""``sentinel synth``: write a synthetic atlas, simulate a plate acquisition, draw a montage."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from edge_app.simulation.vocab import NAMED_LABELS, Vocabulary

logger = logging.getLogger(__name__)

#: The microscope of a plate map without a ``microscope`` column when none of SLiMIA's
#: microscopes images the wells' cell line and medium (it images 4 lines and 3 media).
DEFAULT_MICROSCOPE = "OperaPhenix"
NEEDED = ("cell_line", "culture_medium", "formation_method", "seeding_density")

app = typer.Typer(
    help="Synthetic spheroid images: atlas, plate simulator, contact sheets.", no_args_is_help=True
)


@app.command()
def atlas(
    out: Annotated[Path, typer.Argument(help="Folder to write the SLiMIA-layout atlas into.")],
    n: Annotated[int, typer.Option(help="Number of images.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 1,
    width: Annotated[int, typer.Option(help="Image width in pixels.")] = 512,
) -> None:
    """Write a synthetic atlas in SLiMIA's folder and file-name grammar, with masks.

    Example: sentinel synth atlas out/atlas --n 2000 --seed 1
    """
    from trainer.synth.atlas import write_atlas

    paths = write_atlas(out, n, seed, width)
    typer.echo(f"wrote {len(paths)} images and masks under {out}")


@app.command()
def plate(
    out: Annotated[Path, typer.Argument(help="Folder the 'microscope' writes into.")],
    plate_map: Annotated[Path, typer.Option("--plate", help="Plate map CSV or Excel.")],
    deviations: Annotated[float, typer.Option(help="Fraction of wells that deviate.")] = 0.05,
    rate: Annotated[float, typer.Option(help="Frames per second (0 = as fast as possible).")] = 5.0,
    fmt: Annotated[str, typer.Option("--format", help="tiff | mm-single | ndtiff.")] = "tiff",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    hours: Annotated[str, typer.Option(help="Comma-separated hours since seeding.")] = "0,24,48",
    sites: Annotated[int, typer.Option(help="Sites per well.")] = 1,
    width: Annotated[int, typer.Option(help="Image width in pixels.")] = 512,
) -> None:
    """Image a plate map over time into OUT, with deviations recorded in ground_truth.csv.

    A plate map without ``microscope`` / ``magnification`` columns is imaged with the
    microscope SLiMIA pairs with each well's cell line and medium (else OperaPhenix) at its
    first magnification.

    Example: sentinel synth plate out/run1 --plate plate.csv --deviations 0.05 --rate 5
    --format ndtiff --seed 1
    """
    from edge_app.core.plate import load_plate_protocol
    from edge_app.simulation.plate_sim import PlateSimulation, simulate_plate

    vocab = Vocabulary.default()
    try:
        protocol = load_plate_protocol(
            plate_map, vocabulary={label: vocab.names(label) for label in NAMED_LABELS}
        )
        wells = {well: with_optics(dict(w.labels), vocab, plate_map.name, well)
                 for well, w in protocol.wells.items()}
    except ValueError as exc:  # a plate map that cannot be imaged: say why, no traceback
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    sim = PlateSimulation(
        plate_id=protocol.plate_id,
        hours=tuple(float(h) for h in hours.split(",") if h.strip()),
        sites=sites,
        fmt=fmt,
        rate=rate,
        deviations=deviations,
        seed=seed,
        width=width,
    )
    seeded_at = getattr(protocol, "seeded_at", None)
    if seeded_at is not None:
        sim = PlateSimulation(**{**sim.__dict__, "seeded_at": seeded_at})
    result = simulate_plate(out, wells, sim)
    typer.echo(
        f"wrote {len(result.uris)} frames, {len(result.deviations)} deviations "
        f"({result.ground_truth_csv})"
    )


def default_microscope(labels: dict[str, str], vocab: Vocabulary) -> str:
    """The microscope SLiMIA images this cell line, medium and method with (most of the
    three in its label lists; the vocabulary's order breaks ties), else
    :data:`DEFAULT_MICROSCOPE`."""
    scores = {name: sum(labels.get(label) in effect.get(label, {})
                        for label in ("cell_line", "culture_medium", "formation_method"))
              for name, effect in vocab.data["microscope"].items()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] > 0 else DEFAULT_MICROSCOPE


def with_optics(labels: dict[str, str], vocab: Vocabulary, source: str, well: str
                ) -> dict[str, str]:
    """A plate-map row with ``microscope`` and ``magnification`` filled in when missing.

    The microscope: :func:`default_microscope`; the magnification: that microscope's first.

    Raises:
        ValueError: (one line) the row lacks a label the renderer cannot do without.
    """
    missing = [label for label in NEEDED if not labels.get(label)]
    if missing:
        raise ValueError(f"{source}: well {well} has no {', '.join(missing)}; sentinel synth "
                         f"plate needs the columns {', '.join(NEEDED)} (microscope and "
                         "magnification are optional)")
    if not labels.get("microscope"):
        labels["microscope"] = default_microscope(labels, vocab)
        logger.info("%s %s: no microscope given; simulating %s", source, well,
                    labels["microscope"])
    if not labels.get("magnification"):
        labels["magnification"] = next(iter(vocab.effect("microscope", labels["microscope"])
                                            ["magnification"]))
    return labels


@app.command()
def montage(
    out: Annotated[Path, typer.Argument(help="PNG to write.")],
    n: Annotated[int, typer.Option(help="Number of synthetic images.")] = 32,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    real: Annotated[Path | None, typer.Option(help="Folder of real images to show.")] = None,
) -> None:
    """Draw a contact sheet of synthetic images beside real ones.

    Example: sentinel synth montage docs/synthetic_vs_real.png --n 32
    """
    from trainer.synth.montage import write_synthetic_vs_real

    path = write_synthetic_vs_real(out, n, seed, real)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
