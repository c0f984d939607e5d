"""The next-frame metadata vector shared by trainer and runtime."""

import math

import numpy as np
import pytest

from engines.meta import encode_meta

VOCABS = {"cell_line": ["A549", "HCT116"], "culture_medium": ["RPMI"]}


def test_encode_meta_indices_density_and_gap():
    fields = ("cell_line", "culture_medium", "log_density", "gap_days")
    labels = {"cell_line": "HCT116", "culture_medium": "DMEMLG", "seeding_density": "2000"}
    out = encode_meta(fields, VOCABS, labels, gap_hours=36.0)
    np.testing.assert_allclose(out, [1.0, 1.0, math.log(2000.0), 1.5], rtol=1e-6)
    unknown = encode_meta(fields, VOCABS, {}, gap_hours=0.0)  # unseen -> len(vocab); no density
    np.testing.assert_allclose(unknown, [2.0, 1.0, 0.0, 0.0])


def test_unknown_field_is_an_error():
    with pytest.raises(ValueError, match="unknown meta field 'hours'"):
        encode_meta(("hours",), VOCABS, {}, 1.0)
