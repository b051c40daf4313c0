"""The one way a figure is written: a small PNG, and the figure closed."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image


def _palette_quantize(image: Image.Image, grays: int = 96, colors: int = 160) -> Image.Image:
    """An RGB image in 256 colours: a fixed ramp of ``grays`` neutral greys (text, axes, the
    contour background) plus ``colors`` chosen by median cut among the coloured pixels only, so
    neither a grey picks up a tint nor a curve's colour goes dark (as plain median cut can do)."""
    rgb = np.asarray(image)
    chroma = rgb.max(axis=-1).astype(int) - rgb.min(axis=-1)
    colored = rgb[chroma > 4]
    ramp = np.linspace(0, 255, grays).round().astype(np.uint8)
    entries = [np.repeat(ramp[:, None], 3, axis=1)]
    if len(colored):
        strip = Image.fromarray(colored.reshape(1, -1, 3))
        chosen = strip.quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        used = len(chosen.getcolors(colors) or [])
        palette = chosen.getpalette() or []
        entries.append(np.asarray(palette[: 3 * used], np.uint8).reshape(-1, 3))
    holder = Image.new("P", (1, 1))
    holder.putpalette(np.concatenate(entries).ravel().tolist())
    return image.quantize(palette=holder, dither=Image.Dither.NONE)


def save_png(fig: Figure, path: str | Path, *, dpi: float | None = None) -> Path:
    """Save ``fig`` as a 256-colour PNG (a third of the bytes of RGB) and close it: every figure
    of l2l ends here."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        _palette_quantize(image.convert("RGB")).save(path, optimize=True)
    return path
