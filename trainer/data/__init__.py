"""Training data: SLiMIA layout, a lab's folder + CSV, the synthetic atlas, splits, datasets.

Everything here but :mod:`trainer.data.datasets` is numpy-only; torch is imported there.
"""

from trainer.data.records import IPP_LABELS, ImageRecord, RecordSource, Sample, SampleSource

__all__ = ["IPP_LABELS", "ImageRecord", "RecordSource", "Sample", "SampleSource"]
