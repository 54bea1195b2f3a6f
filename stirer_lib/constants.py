"""Image sizes of STIRER's input and output, defined once (docs/DESIGN.md section 3).

Names say the order: *_HW is (height, width) as torch wants it, *_WH is (width, height) as PIL
wants it. Class counts live with the charset in stirer_lib.text.
"""

from __future__ import annotations

HR_HEIGHT, HR_WIDTH = 32, 128  # the super-resolved / HR image, and what the CRNN reads
LR_HEIGHT, LR_WIDTH = 16, 64  # the low-resolution input
HR_HW = (HR_HEIGHT, HR_WIDTH)
LR_HW = (LR_HEIGHT, LR_WIDTH)
HR_WH = (HR_WIDTH, HR_HEIGHT)
LR_WH = (LR_WIDTH, LR_HEIGHT)
IN_CHANNELS = 4  # RGB + binary text mask
SCALE = 2  # super-resolution factor
