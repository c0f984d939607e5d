"""The paper's model zoo (PyTorch): every architecture registered by name.

Importing this package imports torch, timm and segmentation-models-pytorch; ``engines`` itself
does not. Typical use::

    from engines.zoo import create_model, list_models, model_info
    model = create_model("fusion_cpu", heads={"cell_line": 12, "culture_medium": 5})
"""

from engines.zoo import ipp, nextframe, segmentation  # noqa: F401  (registers the models)
from engines.zoo.io import (
    DEFAULT_OPSET,
    example_inputs,
    export_onnx,
    io_names,
)
from engines.zoo.registry import (
    TASKS,
    TIERS,
    ModelInfo,
    UnknownModelError,
    create_model,
    list_models,
    model_info,
    register_model,
)
from engines.zoo.weights import load_weights, read_config, save_weights

__all__ = [
    "DEFAULT_OPSET",
    "TASKS",
    "TIERS",
    "ModelInfo",
    "UnknownModelError",
    "create_model",
    "example_inputs",
    "export_onnx",
    "io_names",
    "list_models",
    "load_weights",
    "model_info",
    "read_config",
    "register_model",
    "save_weights",
]
