"""Day-long synthetic footage, fast: every frame a pure function of its time.

A frame is 128 (mid grey) plus 48 travelling plane waves, each ``cos(k.x - w t + phi)``
with a slowly breathing amplitude ``1 + 0.5 sin(v t + psi)``; wave vectors, speeds and
phases are random (seeded), the speeds incommensurate, so the picture moves all the
time and never comes back: two frames far apart in time are unrelated pictures
(hundreds of bits apart at 24x24), two frames 0.2 s apart differ by a few tens of bits.
Rendered small (32x18: the waves are at most 3 cycles across, so that is plenty) as
two matrix products per batch (numpy, float32), and scaled up to the video's size by
ffmpeg (bicubic) on the way to the encoder, so the x264 encoder sets the pace.

Because frame ``t`` can be rendered on its own, copies are planted by showing footage
frames ``src..src+L`` again at ``dst``: the ground truth is exact.
"""

from __future__ import annotations

import numpy as np

WAVES = 48


class Footage:
    def __init__(self, width: int = 32, height: int = 18, fps: float = 30.0, seed: int = 24):
        rng = np.random.default_rng(seed)
        self.width, self.height, self.fps = width, height, fps
        y, x = np.mgrid[0:height, 0:width]
        kx = rng.integers(-3, 4, WAVES)
        ky = rng.integers(-2, 3, WAVES)
        kx[(kx == 0) & (ky == 0)] = 1
        phi = rng.uniform(0, 2 * np.pi, WAVES)
        arg = 2 * np.pi * (kx[:, None] * x.ravel() / width + ky[:, None] * y.ravel() / height)
        arg = arg + phi[:, None]
        amp = 2 * 46 / np.sqrt(WAVES)
        self.cos = (amp * np.cos(arg)).astype(np.float32)  # (WAVES, P)
        self.sin = (amp * np.sin(arg)).astype(np.float32)
        # temporal speeds log-uniform in [0.05, 3] rad/s, breathing 0.002-0.05 rad/s
        self.w = np.exp(rng.uniform(np.log(0.05), np.log(3.0), WAVES))
        self.w *= rng.choice([-1.0, 1.0], WAVES)
        self.v = np.exp(rng.uniform(np.log(0.002), np.log(0.05), WAVES))
        self.psi = rng.uniform(0, 2 * np.pi, WAVES)

    def frames(self, index: np.ndarray) -> np.ndarray:
        """uint8[n, height*width] gray frames for footage frame numbers ``index``."""
        t = np.asarray(index, np.float64)[:, None] / self.fps
        a = 1.0 + 0.5 * np.sin(self.v * t + self.psi)
        wt = self.w * t
        # cos(k.x + phi - w t) = cos(k.x + phi) cos(w t) + sin(k.x + phi) sin(w t)
        img = (a * np.cos(wt)).astype(np.float32) @ self.cos
        img += (a * np.sin(wt)).astype(np.float32) @ self.sin
        img += 128.0
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)


def plan_copies(
    frames: int, copies: int, length: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """``copies`` (src, dst) pairs: footage ``[src, src+length)`` shown again at
    ``dst``; destinations spread evenly over the second half-and-more, sources drawn
    from before their destination, no range overlapping another."""
    slots = np.linspace(frames * 0.3, frames - 2 * length, copies).astype(int)
    taken = [(int(d), int(d) + length) for d in slots]
    out = []
    for d in slots:
        d = int(d)
        for _ in range(1000):
            s = int(rng.integers(0, d - 2 * length))
            if all(s + length + 30 <= a or s >= b + 30 for a, b in taken):
                break
        else:  # pragma: no cover - enough room in any sensible plan
            raise ValueError("no room for a copy")
        taken.append((s, s + length))
        out.append((s, d))
    return out


def source_index(frames: int, plan: list[tuple[int, int]], length: int) -> np.ndarray:
    """For every output frame, the footage frame it shows (the ground truth)."""
    idx = np.arange(frames, dtype=np.int64)
    for s, d in plan:
        idx[d : d + length] = np.arange(s, s + length)
    return idx
