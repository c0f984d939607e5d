"""Runtimes: one interface (``load/warmup/infer/close``) over ONNX Runtime, PyTorch, TensorRT."""
