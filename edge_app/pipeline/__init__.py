"""The streaming pipeline: queue, workers, per-frame analysis, verdicts, store writes."""
