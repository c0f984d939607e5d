"""The composition root loads the plate map once, checked against the IPP engine's labels."""

from __future__ import annotations

import pytest

import edge_app.core.plate as plate_module
from edge_app.core.plate import PlateProtocolError
from edge_app.pipeline.compose import build_pipeline
from edge_app.settings import load_settings
from edge_app.store import StoreWriter
from tests.engines.tiny_bundles import ipp_bundle  # cell_line: HCT116, MCF7, U87
from tests.support import write_plate_csv


@pytest.fixture(scope="module")
def ipp(tmp_path_factory):
    return ipp_bundle(tmp_path_factory.mktemp("ipp") / "ipp")


def _build(tmp_path, ipp, plate_csv, source="mm-virtual"):
    settings = load_settings(None, source={"kind": source, "wells": ["A1", "A2"],
                                           "once": True},
                             segmentation={"backend": "classical"},
                             engines={"ipp": str(ipp.path), "forecast": "off",
                                      "runtime": "onnx"},
                             plate={"protocol": plate_csv})
    writer = StoreWriter(tmp_path / "s.sqlite")
    try:
        return build_pipeline(settings, writer)
    finally:
        writer.close()


def test_misspelt_value_is_a_load_time_error_with_file_row_column_and_closest(tmp_path, ipp):
    plate_csv = write_plate_csv(tmp_path / "plate7.csv", ["A1", "A2"], cell_line="MFC7")
    with pytest.raises(PlateProtocolError) as caught:
        _build(tmp_path, ipp, plate_csv)
    text = str(caught.value)
    assert "plate7.csv" in text and "cell_line" in text and "MCF7" in text
    assert "row 2" in text, text


@pytest.mark.parametrize("spelling", ["HCT-116", "hct116", "HCT 116"])
def test_other_spellings_of_a_known_value_are_accepted_once(tmp_path, ipp, monkeypatch,
                                                            spelling):
    calls = []
    real = plate_module.load_plate_protocol

    def counting(*args, **kwargs):
        calls.append(kwargs.get("vocabulary"))
        return real(*args, **kwargs)

    monkeypatch.setattr(plate_module, "load_plate_protocol", counting)
    plate_csv = write_plate_csv(tmp_path / "plate.csv", ["A1", "A2"], cell_line=spelling)
    pipeline = _build(tmp_path, ipp, plate_csv)
    assert len(calls) == 1 and calls[0]["cell_line"] == ("HCT116", "MCF7", "U87")
    assert pipeline.plate.expected("A1").labels["cell_line"] == "HCT116"
    assert pipeline.source.plate_id == pipeline.plate.plate_id == "plate"  # same map
