"""Camera images to the checkpoint's resolution: resize keeping aspect ratio, pad the rest.

The ABC convention: each view is scaled to fit 224×224 without distortion and padded
with black, centred. Imports numpy and OpenCV only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["resize_with_pad"]


def resize_with_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w, 3) uint8 → (height, width, 3) uint8, aspect ratio kept, black padding centred."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    import cv2

    scale = min(height / h, width / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(image), (nw, nh), interpolation=interp)
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    out[top : top + nh, left : left + nw] = resized
    return out
