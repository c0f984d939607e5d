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


def test_labels_that_never_alert_are_not_checked(tmp_path):
    from edge_app.pipeline.compose import ipp_vocabulary, load_plate
    from engines.bundle import default_bundle
    from engines.tasks import IPPEngine

    shipped = default_bundle("ipp")
    if shipped is None:
        pytest.skip("no shipped IPP bundle")
    ipp = IPPEngine(shipped, "onnx")  # not loaded: only its manifest is read
    vocabulary = ipp_vocabulary(ipp)
    assert "cell_line" in vocabulary and "microscope" not in vocabulary
    plate_csv = tmp_path / "lab.csv"
    plate_csv.write_text(
        "well,cell_line,culture_medium,seeding_density,formation_method,microscope,"
        "magnification,biological_rep,technical_rep\n"
        "A1,hct-116,RPMI,2000,LiquidOverlay-ULA,NikonTi2,20X,B7,T12\n", encoding="utf-8")
    settings = load_settings(None, plate={"protocol": plate_csv})
    plate = load_plate(settings, ipp)
    assert plate.expected("A1").labels["cell_line"] == "HCT116"
    assert plate.expected("A1").labels["microscope"] == "NikonTi2"
    plate_csv.write_text(plate_csv.read_text().replace("hct-116", "HTC116"), encoding="utf-8")
    with pytest.raises(PlateProtocolError, match="HCT116"):
        load_plate(settings, ipp)
