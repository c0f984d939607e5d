"""The shipped IPP bundle's OOD score: real images and an unseen microscope stand out from
fresh in-domain atlas renders; Mondrian p-values keep their false-alarm rate in domain."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from engines.realdata import real_data_root
from trainer.train.ood_check import format_check, run_check

SHIPPED = Path(__file__).resolve().parents[2] / "engines" / "bundles" / "ipp"


@pytest.mark.skipif(real_data_root() is None, reason="shared/data/real not present")
def test_shipped_ood_score_separates_real_images_and_an_unseen_microscope() -> None:
    groups, alarms, n_inside = run_check(SHIPPED, n=80, seed=31)
    print(format_check(groups, alarms))  # measured at n=600: AUROC .931 / 1.000
    inside, scope, real = groups
    assert n_inside >= 60
    assert inside.flagged <= 0.05  # nominal 1%
    assert scope.auroc >= 0.8
    assert real.usable >= 30 and real.auroc >= 0.95 and real.flagged >= 0.8
    # p(true class) <= 0.05 on in-domain frames: nominal 5% (1.9-5.3% per head at n=600;
    # up to 11% here at n=80); a wrong class mapping or temperature gives far more.
    assert all(rate <= 0.2 for rate in alarms.values())
