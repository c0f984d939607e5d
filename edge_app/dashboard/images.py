"""numpy images to Qt pixmaps (the data is copied, so the array may go)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_pixmap(image: np.ndarray) -> QPixmap:
    """A QPixmap of a 2-D grey or H x W x 3 RGB uint8 array (the data is copied)."""
    array = np.ascontiguousarray(image.astype(np.uint8))
    h, w = array.shape[:2]
    if array.ndim == 2:
        qimage = QImage(array.data, w, h, array.strides[0], QImage.Format.Format_Grayscale8)
    else:
        qimage = QImage(array.data, w, h, array.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(qimage.copy())
