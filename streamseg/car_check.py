"""`--model isnet` on photos: its matte kept near the car that the default's photo looks find (issue 23).

IS-Net is gated by the default UNet's first look (models/gate.py), widened by 3% of the picture's width and softened
over as much again, since the UNet's coarse outline may lie 20-60 px off. Wall lettering touching the car gets
through that (the letter C beside 4a4364d7fc6d_10: far false matte 0.198%). On a photo the edge stage redraws, the
default's three looks (closer.py: the first, the closer look and the outline network's) find the car within a few
pixels, so there IS-Net's full-resolution matte is kept within NEAR of that car and faded out over as much again.
Chosen on views 2 and 10 of the Carvana evaluation cars and two pictures (MODEL_CARD.md, `isnet`): far false matte
0.0062% -> 0.0020%, photos above 0.1% 2 -> 0, Dice the same; the real-car set the same (a truck's load, which the
default calls car at 0.1-0.5, is why CAR is low).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from streamseg.backends.base import Backend
from streamseg.closer import closer_looks
from streamseg.pipeline import first_look

NEAR = 0.013  # of the picture's diagonal (30 px at 1918x1280): what the default's looks may miss of the car
CAR = 0.1  # the default's probability taken as car: low, as it gives a truck's load 0.1-0.5 (labelme_video_00000100)


class CarCheck:
    """pixels [N,H,W,3] uint8 and IS-Net's full-resolution matte [N,1,H,W] 0..1 -> the matte kept near the car
    the default network `net` finds with its photo looks (the outline network `outline` the third)."""

    def __init__(self, net: Backend, outline: Backend) -> None:
        self.net, self.outline = net, outline

    def car(self, pixels: torch.Tensor) -> torch.Tensor:
        """[N,H,W,3] uint8 -> the default's matte after its photo looks, [N,1,h,w] 0..1 on its finest grid."""
        return closer_looks(pixels, *first_look(pixels, self.net), self.net, self.outline)[1]

    def __call__(self, pixels: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        h, w = alpha.shape[-2:]
        car = F.interpolate(self.car(pixels.to(self.net.device)).float(), size=(h, w), mode="bilinear",
                            align_corners=False) >= CAR
        near = NEAR * float(np.hypot(h, w))
        gates = []
        for found in car[:, 0].cpu().numpy():
            away = cv2.distanceTransform((~found).astype(np.uint8), cv2.DIST_L2, 5)  # px from the car found
            gates.append(np.clip((2 * near - away) / near, 0, 1))  # 1 within NEAR, 0 beyond twice NEAR
        return alpha * torch.from_numpy(np.stack(gates))[:, None].to(alpha.device, alpha.dtype)

    def close(self) -> None:
        self.net.close()
        self.outline.close()
