"""The default synthetic-atlas vocabulary as plain data (no code paths depend on a name).

Each class carries the numbers that condition the renderer. Microscopes carry their optics and
the labels imaged on them, which reproduces SLiMIA's acquisition confounding
(``reference/slimia.md``): every microscope has its own cell lines and media.

Effect keys:

- cell line: ``size`` (diameter factor), ``grain_um`` (texture granularity), ``texture``
  (texture contrast), ``rough`` (edge roughness), ``lobes`` (low-frequency irregularity),
  ``blebs`` (mean number of loose cells on the edge), ``dark`` (opacity), ``fold`` and
  ``rate`` (Gompertz growth: final diameter fold and rate per hour), ``necrosis``.
- medium: ``size``, ``compaction`` (>1 smoother, tighter edge), ``dark``, ``growth``.
- formation method: ``size``, ``axis_ratio`` (minor/major range), ``rough``, ``blebs``,
  ``size_cv`` (sample-to-sample spread of the diameter).
- microscope: optics (``camera_pixel_um``, ``native_width``/``native_height``, ``bits``,
  ``noise``, ``gradient``, ``vignetting``, ``background``, ``scale_bar``, ``blur``) and the
  weighted label lists it images.
"""

from __future__ import annotations

from typing import Any

_LINE = (
    "size",
    "grain_um",
    "texture",
    "rough",
    "lobes",
    "blebs",
    "dark",
    "fold",
    "rate",
    "necrosis",
)


def _line(*values: float) -> dict[str, float]:
    return dict(zip(_LINE, values, strict=True))


DEFAULT_VOCABULARY: dict[str, Any] = {
    "cell_line": {
        #                  size grain  tex   rough lobes blebs dark  fold rate   necrosis
        "MCF10A": _line(1.00, 14.0, 0.10, 0.012, 0.020, 1.0, 0.38, 1.9, 0.010, 0.8),
        "HCT116": _line(1.05, 8.0, 0.08, 0.008, 0.015, 0.5, 0.45, 2.2, 0.014, 1.0),
        "SKOV3": _line(0.95, 11.0, 0.12, 0.020, 0.035, 2.5, 0.35, 1.6, 0.008, 0.6),
        "SW837": _line(0.85, 7.0, 0.07, 0.007, 0.012, 0.4, 0.50, 1.5, 0.007, 0.7),
        "NCIH460": _line(1.10, 9.0, 0.09, 0.010, 0.018, 0.8, 0.47, 2.4, 0.016, 1.1),
        "A549": _line(1.00, 12.0, 0.13, 0.022, 0.040, 3.0, 0.33, 1.7, 0.009, 0.5),
        "U87MG": _line(0.95, 16.0, 0.15, 0.026, 0.045, 3.5, 0.30, 1.8, 0.011, 0.6),
        "MCF7": _line(1.05, 8.5, 0.08, 0.009, 0.016, 0.6, 0.46, 2.1, 0.013, 1.0),
        "PANC1": _line(0.92, 12.5, 0.12, 0.021, 0.038, 2.8, 0.34, 1.7, 0.009, 0.5),
        "HEPG2": _line(0.90, 10.0, 0.11, 0.016, 0.030, 1.8, 0.40, 1.9, 0.010, 0.8),
    },
    "culture_medium": {
        "DMEMLG": {"size": 1.00, "compaction": 1.00, "dark": 0.00, "growth": 1.00},
        "DMEMHG": {"size": 1.06, "compaction": 1.10, "dark": 0.02, "growth": 1.10},
        "DMEMF12": {"size": 0.97, "compaction": 1.00, "dark": -0.01, "growth": 0.95},
        "DMEMF12-BME": {"size": 1.10, "compaction": 0.80, "dark": -0.03, "growth": 1.15},
        "RPMI": {"size": 1.03, "compaction": 1.05, "dark": 0.01, "growth": 1.05},
        "EMEM": {"size": 0.94, "compaction": 0.95, "dark": 0.00, "growth": 0.90},
    },
    "formation_method": {
        "LiquidOverlay-ULA": {
            "size": 1.00,
            "axis_ratio": [0.90, 0.99],
            "rough": 1.0,
            "blebs": 1.0,
            "size_cv": 0.12,
        },
        "HangingDrop": {
            "size": 1.05,
            "axis_ratio": [0.80, 0.93],
            "rough": 1.1,
            "blebs": 1.0,
            "size_cv": 0.14,
        },
        "LiquidOverlay-Agarose": {
            "size": 1.00,
            "axis_ratio": [0.86, 0.98],
            "rough": 1.6,
            "blebs": 1.8,
            "size_cv": 0.15,
        },
        "LiquidOverlay-Microchip": {
            "size": 0.65,
            "axis_ratio": [0.92, 0.99],
            "rough": 0.7,
            "blebs": 0.5,
            "size_cv": 0.06,
        },
    },
    "seeding_density": [1000, 2000, 3000, 5000, 8000, 10000],
    "timepoint": [0, 24, 48, 72, 96, 168, 240, 336],
    "microscope": {
        "IncucyteS3": {
            "camera_pixel_um": 12.4,
            "native_width": 1408,
            "native_height": 1040,
            "bits": 8,
            "noise": 0.020,
            "gradient": 0.04,
            "vignetting": 0.10,
            "background": 0.62,
            "scale_bar": True,
            "blur": 0.8,
            "magnification": {"10X": 1.0},
            "cell_line": {"MCF10A": 1.0},
            "culture_medium": {"DMEMF12-BME": 1.0},
            "formation_method": {"LiquidOverlay-ULA": 1.0},
            "seeding_density": {"1000": 1.0, "2000": 1.0, "3000": 1.0},
            "timepoint": {"72": 1.0, "96": 1.0, "168": 2.0, "240": 1.0, "336": 1.0},
        },
        "LeicaDMi1": {
            "camera_pixel_um": 3.45,
            "native_width": 2592,
            "native_height": 1944,
            "bits": 8,
            "noise": 0.025,
            "gradient": 0.08,
            "vignetting": 0.18,
            "background": 0.55,
            "scale_bar": True,
            "blur": 1.0,
            "magnification": {"4X": 1.0},
            "cell_line": {"SW837": 1.0},
            "culture_medium": {"DMEMHG": 1.0},
            "formation_method": {"LiquidOverlay-Microchip": 1.0},
            "seeding_density": {"1000": 1.0, "2000": 1.0},
            "timepoint": {"24": 1.0, "48": 1.0, "96": 1.0, "168": 1.0, "336": 1.0},
        },
        "Axiovert200M": {
            "camera_pixel_um": 6.45,
            "native_width": 1388,
            "native_height": 1040,
            "bits": 12,
            "noise": 0.012,
            "gradient": 0.06,
            "vignetting": 0.08,
            "background": 0.50,
            "scale_bar": False,
            "blur": 0.7,
            "magnification": {"5X": 1.0},
            "cell_line": {
                "HCT116": 270,
                "A549": 242,
                "U87MG": 152,
                "SKOV3": 136,
                "PANC1": 135,
                "MCF7": 99,
                "HEPG2": 68,
            },
            "culture_medium": {"DMEMLG": 3.0, "RPMI": 1.0},
            "formation_method": {"LiquidOverlay-ULA": 1.0},
            "seeding_density": {"2000": 1.0},
            "timepoint": {"72": 1.0, "96": 3.0, "168": 2.0},
        },
        "OperaPhenix": {
            "camera_pixel_um": 6.5,
            "native_width": 2160,
            "native_height": 2160,
            "bits": 16,
            "noise": 0.008,
            "gradient": 0.03,
            "vignetting": 0.05,
            "background": 0.40,
            "scale_bar": False,
            "blur": 0.6,
            "magnification": {"5X": 1.0, "10X": 1.0},
            "cell_line": {"HCT116": 2.0, "NCIH460": 2.0, "SKOV3": 1.0, "MCF7": 1.0},
            "culture_medium": {"DMEMLG": 2.0, "RPMI": 2.0, "DMEMHG": 1.0},
            "formation_method": {"LiquidOverlay-ULA": 2.0, "LiquidOverlay-Agarose": 1.0},
            "seeding_density": {"2000": 1.0, "5000": 1.0, "10000": 1.0},
            "timepoint": {"0": 1.0, "24": 1.0, "48": 1.0, "72": 1.0, "96": 2.0, "168": 2.0},
        },
        "Cytation5": {
            "camera_pixel_um": 6.45,
            "native_width": 1992,
            "native_height": 1992,
            "bits": 16,
            "noise": 0.010,
            "gradient": 0.05,
            "vignetting": 0.12,
            "background": 0.45,
            "scale_bar": True,
            "blur": 0.8,
            "magnification": {"4X": 1.0, "10X": 1.0},
            "cell_line": {"MCF7": 2.0, "A549": 1.0, "HEPG2": 1.0, "MCF10A": 1.0},
            "culture_medium": {"DMEMHG": 2.0, "EMEM": 1.0, "DMEMF12": 1.0},
            "formation_method": {"HangingDrop": 2.0, "LiquidOverlay-ULA": 1.0},
            "seeding_density": {"3000": 1.0, "5000": 1.0, "8000": 1.0},
            "timepoint": {"24": 1.0, "48": 1.0, "72": 1.0, "96": 1.0, "168": 1.0},
        },
        "OlympusIX05": {
            "camera_pixel_um": 5.86,
            "native_width": 1920,
            "native_height": 1200,
            "bits": 8,
            "noise": 0.018,
            "gradient": 0.10,
            "vignetting": 0.15,
            "background": 0.58,
            "scale_bar": True,
            "blur": 0.9,
            "magnification": {"4X": 1.0, "10X": 2.0},
            "cell_line": {"NCIH460": 1.0, "HCT116": 1.0, "U87MG": 1.0, "PANC1": 1.0},
            "culture_medium": {"RPMI": 1.0, "DMEMLG": 1.0, "DMEMF12": 1.0},
            "formation_method": {"LiquidOverlay-Agarose": 2.0, "HangingDrop": 1.0},
            "seeding_density": {"5000": 1.0, "8000": 1.0, "10000": 1.0},
            "timepoint": {"48": 1.0, "96": 2.0, "168": 2.0, "240": 1.0},
        },
    },
}
