"""One contract for every registered toy architecture (the smp/timm test style).

Forward shapes, finite gradients on every trainable parameter, ONNX export with a dynamic
batch axis and ONNX Runtime parity with PyTorch at batch 1 and 3, and a weights round trip.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the model zoo needs the 'train' extra (torch)")
pytest.importorskip("timm", reason="the model zoo needs the 'train' extra (timm)")
ort = pytest.importorskip("onnxruntime")

from engines import zoo  # noqa: E402

TEST_MODELS = zoo.list_models("test_*")
#: ONNX Runtime vs PyTorch eager (float32) tolerances per task.
TOLERANCES = {
    "segmentation": {"rtol": 1e-3, "atol": 1e-4},
    "ipp": {"rtol": 1e-3, "atol": 1e-4},
    "nextframe": {"rtol": 1e-4, "atol": 1e-5},
}


@pytest.fixture(autouse=True)
def _quiet_exporters():
    """The ONNX exporters log progress at INFO/WARNING; keep test output readable."""
    names = ("torch.onnx", "onnxscript", "onnx_ir", "torch.export", "torch._dynamo")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _calibrate_norms(model, inputs) -> None:
    """Give batch norms the statistics of ``inputs`` (one cumulative pass), then eval.

    Freshly initialised running statistics let deep plain stacks (SegNet) shrink their
    output to a near-constant, which would make the parity check toothless.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    with torch.no_grad():
        model(*inputs)
    model.eval()


def _outputs(result) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def _expected_shapes(model, batch: int) -> list[tuple[int, ...]]:
    info = zoo.model_info(model.zoo_cfg["name"])
    height, width = info.input_size
    if info.task == "ipp":
        heads = model.zoo_cfg["model_kwargs"]["heads"]
        return [(batch, heads[name]) for name in model.head_names]
    return [(batch, 1, height, width)]


def test_there_is_a_toy_model_for_every_task():
    tasks = {zoo.model_info(name).task for name in TEST_MODELS}
    assert tasks == set(zoo.TASKS)


@pytest.mark.parametrize("name", TEST_MODELS)
class TestZooContract:
    def test_forward_shapes(self, name):
        model = zoo.create_model(name).eval()
        with torch.no_grad():
            outputs = _outputs(model(*zoo.example_inputs(model, batch=2)))
        assert [tuple(o.shape) for o in outputs] == _expected_shapes(model, 2)
        assert all(o.dtype == torch.float32 and torch.isfinite(o).all() for o in outputs)

    def test_backward_reaches_every_parameter(self, name):
        torch.manual_seed(0)
        model = zoo.create_model(name).train()
        inputs = zoo.example_inputs(model, batch=2)
        kwargs = {}
        if zoo.model_info(name).teacher_forcing:
            sizes = model.zoo_cfg["model_kwargs"]["heads"]
            kwargs["targets"] = torch.stack(
                [torch.randint(0, sizes[h], (2,)) for h in model.head_names], dim=1
            )
        loss = sum(o.float().square().mean() for o in _outputs(model(*inputs, **kwargs)))
        loss.backward()
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        missing = [n for n, p in trainable if p.grad is None]
        assert not missing, f"no gradient reached {missing}"
        assert all(torch.isfinite(p.grad).all() for _, p in trainable)
        assert sum(float(p.grad.abs().sum()) for _, p in trainable) > 0

    def test_onnx_runtime_matches_pytorch(self, name, tmp_path):
        torch.manual_seed(0)
        model = zoo.create_model(name)
        _calibrate_norms(model, zoo.example_inputs(model, batch=4, seed=4))
        input_names, output_names = zoo.io_names(model)
        path = zoo.export_onnx(
            model,
            zoo.example_inputs(model, batch=1),
            tmp_path / "model.onnx",
            input_names,
            output_names,
            dynamic_batch=True,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == input_names
        assert [o.name for o in session.get_outputs()] == output_names
        tolerance = TOLERANCES[zoo.model_info(name).task]
        for batch in (1, 3):
            inputs = zoo.example_inputs(model, batch=batch, seed=batch)
            with torch.no_grad():
                expected = _outputs(model(*inputs))
            assert all(float(o.std()) > 1e-3 for o in expected), "outputs near constant"
            feeds = {
                n: x.numpy()
                for n, x in zip(input_names, [x for x in inputs if x is not None], strict=True)
            }
            actual = session.run(output_names, feeds)
            for want, got in zip(expected, actual, strict=True):
                torch.testing.assert_close(torch.from_numpy(np.asarray(got)), want, **tolerance)

    def test_weights_round_trip(self, name, tmp_path):
        torch.manual_seed(0)
        model = zoo.create_model(name).eval()
        path = zoo.save_weights(model, tmp_path / "weights.safetensors")
        config = zoo.read_config(path)
        assert config == model.zoo_cfg
        torch.manual_seed(1)
        fresh = zoo.create_model(config["name"], **config["model_kwargs"]).eval()
        inputs = zoo.example_inputs(model, batch=2)
        with torch.no_grad():
            before = _outputs(fresh(*inputs))
            zoo.load_weights(fresh, path)
            after, reference = _outputs(fresh(*inputs)), _outputs(model(*inputs))
        assert any(not torch.equal(b, r) for b, r in zip(before, reference, strict=True))
        for got, want in zip(after, reference, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        loaded = zoo.create_model(name, checkpoint_path=str(path))
        for (key, value), (_, other) in zip(
            model.state_dict().items(), loaded.state_dict().items(), strict=True
        ):
            assert torch.equal(value, other), key


def test_legacy_torchscript_exporter_also_matches(tmp_path):
    model = zoo.create_model("test_fusion_transformer").eval()
    input_names, output_names = zoo.io_names(model)
    path = zoo.export_onnx(
        model,
        zoo.example_inputs(model),
        tmp_path / "ts.onnx",
        input_names,
        output_names,
        opset=17,
        exporter="torchscript",
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = zoo.example_inputs(model, batch=3, seed=3)
    with torch.no_grad():
        expected = model(*inputs)
    actual = session.run(
        output_names, dict(zip(input_names, [x.numpy() for x in inputs], strict=True))
    )
    for want, got in zip(expected, actual, strict=True):
        torch.testing.assert_close(torch.from_numpy(got), want, **TOLERANCES["ipp"])


def test_export_rejects_bad_arguments(tmp_path):
    model = zoo.create_model("test_convlstm")
    with pytest.raises(ValueError, match="dynamo"):
        zoo.export_onnx(
            model,
            zoo.example_inputs(model),
            tmp_path / "m.onnx",
            ["frames"],
            ["next_frame"],
            exporter="tracing",
        )
    with pytest.raises(ValueError, match="input_names"):
        zoo.export_onnx(
            model, zoo.example_inputs(model), tmp_path / "m.onnx", ["a", "b"], ["next_frame"]
        )
    with pytest.raises(ValueError, match="create_model"):
        zoo.io_names(torch.nn.Linear(2, 2))
