"""Procedural images: the generated world of the embedded mini-study.

Every image is a noisy, coloured background with one or more *glyphs* on it. A glyph is a shape (a
level set in its own rotated, scaled frame) filled with a pattern. Source classes are (shape, pattern)
pairs, so a network pretrained on them must learn shape and texture detectors; the target datasets
reuse those ingredients in new combinations (novel shapes, fine-grained stars, whole-image textures,
several glyphs per image), which is what makes transfer measurable.

Everything is vectorised over a batch of images with numpy and driven by one ``numpy.random.Generator``,
so a dataset is a pure function of its seed.
"""

from __future__ import annotations

import numpy as np

TAU = 2.0 * np.pi


def _polar(ux, uy):
    return np.hypot(ux, uy), np.arctan2(uy, ux)


def _polygon(ux, uy, sides, apothem=0.72):
    r, phi = _polar(ux, uy)
    sector = TAU / sides
    return r * np.cos(np.mod(phi, sector) - sector / 2) - apothem


def _star(ux, uy, points, inner=0.5):
    r, phi = _polar(ux, uy)
    wave = 0.5 + 0.5 * np.cos(points * phi)
    return r - (inner * 0.95 + (0.95 - inner * 0.95) * wave)


def _box(ux, uy, half_w, half_h):
    return np.maximum(np.abs(ux) - half_w, np.abs(uy) - half_h)


# Signed level-set functions in the glyph's own frame: negative inside, the glyph spans about [-1, 1].
SHAPES = {
    "disk": lambda ux, uy: np.hypot(ux, uy) - 0.9,
    "square": lambda ux, uy: _box(ux, uy, 0.72, 0.72),
    "triangle": lambda ux, uy: _polygon(ux, uy, 3, 0.5),
    "ring": lambda ux, uy: np.abs(np.hypot(ux, uy) - 0.68) - 0.24,
    "cross": lambda ux, uy: np.minimum(_box(ux, uy, 0.26, 0.9), _box(ux, uy, 0.9, 0.26)),
    "star": lambda ux, uy: _star(ux, uy, 5, 0.45),
    "diamond": lambda ux, uy: np.abs(ux) + np.abs(uy) - 0.95,
    "ellipse": lambda ux, uy: np.hypot(ux / 0.95, uy / 0.45) - 1.0,
    # Shapes the source never shows (for the few-shot target).
    "crescent": lambda ux, uy: np.maximum(np.hypot(ux, uy) - 0.9, 0.72 - np.hypot(ux - 0.42, uy)),
    "hexagon": lambda ux, uy: _polygon(ux, uy, 6, 0.8),
    "arrow": lambda ux, uy: np.minimum(_box(ux + 0.3, uy, 0.55, 0.2), _polygon(ux - 0.35, uy, 3, 0.3)),
    "hourglass": lambda ux, uy: np.maximum(np.abs(ux) - 0.85 * np.abs(uy) - 0.08, np.abs(uy) - 0.85),
    "frame": lambda ux, uy: np.maximum(_box(ux, uy, 0.85, 0.85), -_box(ux, uy, 0.5, 0.5)),
}
SOURCE_SHAPES = ("disk", "square", "triangle", "ring", "cross", "star", "diamond", "ellipse")
NOVEL_SHAPES = ("crescent", "hexagon", "arrow", "hourglass", "frame")


def _pattern_value(name, ux, uy, freq, phase):
    """A fill pattern in [0, 1] over local coordinates; ``freq`` and ``phase`` broadcast per image."""
    if name == "solid":
        return np.ones_like(ux)
    if name == "stripes":
        return (np.sin(freq * ux * np.pi + phase) > 0).astype(np.float32)
    if name == "checker":
        return ((np.sin(freq * ux * np.pi + phase) * np.sin(freq * uy * np.pi + phase)) > 0).astype(np.float32)
    if name == "dots":
        cx = np.sin(freq * ux * np.pi + phase)
        cy = np.sin(freq * uy * np.pi + phase)
        return ((cx * cx + cy * cy) > 1.1).astype(np.float32)
    if name == "rings":
        return (np.sin(freq * np.hypot(ux, uy) * np.pi * 1.5 + phase) > 0).astype(np.float32)
    if name == "gradient":
        return np.clip(0.5 + 0.5 * ux, 0.0, 1.0)
    if name == "grid":
        gx = np.abs(np.sin(freq * ux * np.pi + phase)) < 0.35
        gy = np.abs(np.sin(freq * uy * np.pi + phase)) < 0.35
        return (gx | gy).astype(np.float32)
    if name == "waves":
        return (np.sin(freq * uy * np.pi + 2.0 * np.sin(freq * ux * np.pi * 0.7) + phase) > 0).astype(np.float32)
    raise KeyError(name)


PATTERNS = ("solid", "stripes", "checker", "dots", "rings", "gradient", "grid", "waves")


def hsv_to_rgb(h, s, v):
    """Vectorised HSV -> RGB, all arrays in [0, 1]; returns [..., 3]."""
    h6 = (np.asarray(h) % 1.0) * 6.0
    c = v * s
    x = c * (1 - np.abs(h6 % 2 - 1))
    m = v - c
    zeros = np.zeros_like(c)
    sector = np.floor(h6).astype(int) % 6
    choices = [
        np.stack([c, x, zeros], -1),
        np.stack([x, c, zeros], -1),
        np.stack([zeros, c, x], -1),
        np.stack([zeros, x, c], -1),
        np.stack([x, zeros, c], -1),
        np.stack([c, zeros, x], -1),
    ]
    rgb = np.select([(sector == k)[..., None] for k in range(6)], choices)
    return rgb + m[..., None]


def _grid(size):
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    return xx, yy


def backgrounds(rng, n, size):
    """Low-saturation colour fields with smooth blotches and pixel noise, float32 [n, size, size, 3]."""
    xx, yy = _grid(size)
    base = hsv_to_rgb(rng.random(n), rng.uniform(0.0, 0.35, n), rng.uniform(0.25, 0.85, n))
    field = np.zeros((n, size, size), np.float32)
    for _ in range(3):
        fx, fy = rng.uniform(-3, 3, (2, n, 1, 1))
        ph = rng.uniform(0, TAU, (n, 1, 1))
        field += np.sin(np.pi * (fx * xx + fy * yy) + ph).astype(np.float32)
    image = base[:, None, None, :] + 0.06 * field[..., None]
    return image + rng.normal(0, 0.03, image.shape).astype(np.float32)


def star_shape(points, inner):
    """A star with ``points`` tips whose inner radius is ``inner`` times the outer one."""
    return lambda ux, uy: _star(ux, uy, points, inner)


def draw_glyphs(image, rng, shapes, patterns, *, scale, center_range, present=None, shape_fns=SHAPES):
    """Composite one glyph per image onto ``image`` (in place).

    ``shapes``/``patterns`` are per-image names (keys of ``shape_fns`` and ``PATTERNS``); ``scale`` is a
    (low, high) radius range in image half-widths; ``present`` (bool per image) skips images that get no
    glyph in this pass.
    """
    n, size = image.shape[:2]
    xx, yy = _grid(size)
    if present is None:
        present = np.ones(n, bool)
    cx, cy = rng.uniform(-center_range, center_range, (2, n, 1, 1)).astype(np.float32)
    s = rng.uniform(*scale, (n, 1, 1)).astype(np.float32)
    theta = rng.uniform(0, TAU, (n, 1, 1)).astype(np.float32)
    dx, dy = xx - cx, yy - cy
    ux = (np.cos(theta) * dx + np.sin(theta) * dy) / s
    uy = (-np.sin(theta) * dx + np.cos(theta) * dy) / s
    freq = rng.uniform(2.5, 4.0, (n, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, TAU, (n, 1, 1)).astype(np.float32)
    level = np.empty_like(ux)
    fill = np.empty_like(ux)
    shapes = np.asarray(shapes)
    patterns = np.asarray(patterns)
    for name in np.unique(shapes):
        idx = shapes == name
        level[idx] = shape_fns[name](ux[idx], uy[idx])
    for name in np.unique(patterns):
        idx = patterns == name
        fill[idx] = _pattern_value(name, ux[idx], uy[idx], freq[idx], phase[idx])
    # Soft edge about one pixel wide, in glyph units.
    sharpness = s * size / 2.0
    mask = 1.0 / (1.0 + np.exp(np.clip(level * sharpness, -30, 30)))
    mask *= present[:, None, None]
    hue = rng.random(n)
    fg = hsv_to_rgb(hue, rng.uniform(0.55, 1.0, n), rng.uniform(0.6, 1.0, n))
    dark = fg * rng.uniform(0.15, 0.45, (n, 1))
    colour = dark[:, None, None, :] + (fg - dark)[:, None, None, :] * fill[..., None]
    image *= 1.0 - mask[..., None]
    image += mask[..., None] * colour
    return image


def texture_images(rng, patterns, freqs, size):
    """Whole-image textures (no glyph): ``patterns`` and base ``freqs`` per image."""
    n = len(patterns)
    xx, yy = _grid(size)
    theta = rng.uniform(0, TAU, (n, 1, 1)).astype(np.float32)
    ux = np.cos(theta) * xx + np.sin(theta) * yy
    uy = -np.sin(theta) * xx + np.cos(theta) * yy
    freq = (np.asarray(freqs, np.float32) * rng.uniform(0.85, 1.15, n)).reshape(n, 1, 1).astype(np.float32)
    phase = rng.uniform(0, TAU, (n, 1, 1)).astype(np.float32)
    fill = np.empty((n, size, size), np.float32)
    patterns = np.asarray(patterns)
    for name in np.unique(patterns):
        idx = patterns == name
        fill[idx] = _pattern_value(name, ux[idx], uy[idx], freq[idx], phase[idx])
    a = hsv_to_rgb(rng.random(n), rng.uniform(0.2, 0.9, n), rng.uniform(0.5, 1.0, n))
    b = a * rng.uniform(0.1, 0.5, (n, 1))
    image = b[:, None, None, :] + (a - b)[:, None, None, :] * fill[..., None]
    return image + rng.normal(0, 0.05, image.shape).astype(np.float32)


def to_uint8(image):
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
