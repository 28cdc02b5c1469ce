"""Provides `ActivationsView`: both sides' values of the selected pair — a readable slice, a per-channel max|Δ|
sparkline and a heatmap of |Δ| in terminal cells — from the app's optional `activations` accessor.

The accessor returns (old, new) or (old, new, channel_axis), NEW already mapped onto OLD's layout, batch axis first;
channel_axis defaults to -1. The pickers: [ ] choose the channel, { } the position (sample, and for feature maps
the row: the slice shows that row, the heatmap marks it). Glyphs carry the heatmap's levels (·░▒▓█), colour only
adds to them. Arrays larger than the pane are max-pooled down; numpy is imported only when this tab is shown.
"""

from __future__ import annotations

from typing import Callable

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widgets import Static

from kstep.analysis import Row
from kstep.tui import render

SPARK = "▁▂▃▄▅▆▇█"
SHADES = "·░▒▓█"
SHADE_STYLE = ("dim", "green", "yellow", "#ff8700", "bold red")


def _pool(a, rows: int, cols: int):
    """Max-pool a 2-D array down to at most rows × cols cells."""
    import numpy as np

    h, w = a.shape
    fy, fx = -(-h // rows), -(-w // cols)
    if fy == 1 and fx == 1:
        return a
    pad = np.full((-(-h // fy) * fy, -(-w // fx) * fx), -np.inf)
    pad[:h, :w] = a
    return pad.reshape(pad.shape[0] // fy, fy, pad.shape[1] // fx, fx).max(axis=(1, 3))


def _fit(x: float, width: int) -> str:
    """A value right-aligned in `width` cells with as many significant digits as fit (columns never touch)."""
    for digits in (4, 3, 2, 1):
        text = f"{float(x):.{digits}g}"
        if len(text) <= width:
            return text.rjust(width)
    return text[:width]


def sparkline(per_channel, channel: int, width: int) -> Text:
    """One cell per channel (max-pooled when there are more channels than `width`), the chosen one reversed."""
    import numpy as np

    v = np.asarray(per_channel, dtype=np.float64)
    factor = max(1, -(-len(v) // max(1, width)))
    pooled = _pool(v[None, :], 1, -(-len(v) // factor))[0]
    top = np.nanmax(np.where(np.isfinite(pooled), pooled, np.nan)) if np.isfinite(pooled).any() else 0.0
    out = Text()
    for i, x in enumerate(pooled):
        if not np.isfinite(x):
            ch, style = "!", "bold red"
        else:
            level = 0 if top <= 0 or x <= 0 else min(len(SPARK) - 1, 1 + int((len(SPARK) - 2) * x / top))
            ch, style = SPARK[level], ("dim" if level == 0 else SHADE_STYLE[min(4, 1 + level // 2)])
        if i == channel // factor:
            style += " reverse"
        out.append(ch, style=style)
    return out


def heatmap(diff, rows: int, cols: int, marked_row: int | None) -> tuple[list[Text], float]:
    """|Δ| over a 2-D plane as lines of shade glyphs (two cells per column when room allows); and the scale max."""
    import numpy as np

    h, w = diff.shape
    pooled = _pool(diff, rows, cols)
    cell = 2 if pooled.shape[1] * 2 <= cols else 1
    finite = pooled[np.isfinite(pooled)]
    top = float(finite.max()) if finite.size else 0.0
    fy = -(-h // pooled.shape[0])
    lines = []
    for y, line in enumerate(pooled):
        text = Text("▸" if marked_row is not None and marked_row // fy == y else " ", style="bold")
        for x in line:
            if not np.isfinite(x):
                ch, style = "!", "bold red"
            else:
                level = 0 if top <= 0 or x <= 0 else min(len(SHADES) - 1, 1 + int((len(SHADES) - 2) * x / top))
                ch, style = SHADES[level], SHADE_STYLE[level]
            text.append(ch * cell, style=style)
        lines.append(text)
    return lines, top


def activations_text(pair: tuple, channel: int | None, position: int | None,
                     width: int) -> tuple[RenderableType, int, int, int, int]:
    """The tab for one (old, new[, channel_axis]); channel/position None pick the worst. Returns the text, the
    channel and position shown, and their counts (for the pickers)."""
    import numpy as np
    from rich.table import Table

    old, new = np.asarray(pair[0]), np.asarray(pair[1])
    axis = pair[2] if len(pair) > 2 else -1
    if old.shape != new.shape:
        return (Text(f"shapes differ: old {old.shape} new {new.shape}; values are compared only after mapping",
                     style="yellow"), 0, 0, 1, 1)
    if old.ndim < 2:
        old, new = old.reshape(1, -1), new.reshape(1, -1)
        axis = -1
    old = np.moveaxis(old, axis, -1).astype(np.float64)
    new = np.moveaxis(new, axis, -1).astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(new - old)
    diff = np.where(np.isnan(old) & np.isnan(new), 0.0, np.where(np.isnan(diff), np.inf, diff))
    n_ch = old.shape[-1]
    per_channel = diff.reshape(-1, n_ch).max(axis=0)
    worst_ch = int(np.argmax(per_channel))
    channel = worst_ch if channel is None else channel % n_ch
    lead = old.shape[:-2] if old.ndim > 2 else old.shape[:1]  # positions: sample (and outer spatial axes)
    positions = list(np.ndindex(*lead))
    if position is None:
        at = diff[..., channel] if old.ndim > 2 else diff
        flat = at.reshape(len(positions), -1).max(axis=1)
        position = int(np.argmax(flat))
    position %= len(positions)
    pos = positions[position]
    spatial = old.ndim - 2

    where = ", ".join(str(i) for i in pos)
    head = Text.assemble(("channel ", "bold"), f"{channel}/{n_ch} [ ]  ", ("position ", "bold"),
                         f"({where}) {position + 1}/{len(positions)} {{ }}  ",
                         (f"old {render.shape(old.shape, True)}, new mapped onto old", "dim"))
    lines = [head, Text("per-channel max|Δ| ") + sparkline(per_channel, channel, max(8, width - 44))
             + Text(f"  worst ch {worst_ch}: {render.num(per_channel[worst_ch])}", style="dim")]

    # the slice: values along the last non-channel axis at `pos` (for vectors: the channels around `channel`)
    if old.ndim == 2:
        o_line, n_line, d_line = old[pos[0]], new[pos[0]], diff[pos[0]]
        axis_name, centre = "ch", channel
    else:
        o_line, n_line, d_line = old[pos][..., channel], new[pos][..., channel], diff[pos][..., channel]
        axis_name, centre = ("t" if spatial == 1 else "w"), int(np.argmax(diff[pos][..., channel]))
    heat: list[Text] = []
    if spatial >= 1:
        plane = (diff[pos[:-1]] if spatial >= 2 else diff[pos[0]][None, :, :])[..., channel]
        marked = pos[-1] if spatial >= 2 else None
        side = width >= 60 and plane.shape[1] <= 24
        heat, top = heatmap(plane, 12 if side else 16, 25 if side else max(8, width - 4), marked)
        heat.insert(0, Text.assemble(("|Δ| ", "bold"), "H×W" if spatial >= 2 else "t", f" 0…{render.num(top)}"))
    heat_w = max((len(t.plain) for t in heat), default=0)
    side = bool(heat) and width - heat_w - 2 >= 6 + 8 * 4
    per_col = 9
    room = (width - heat_w - 3) if side else width
    n_cols = max(1, min(len(o_line), (room - 5) // per_col))
    start = max(0, min(centre - n_cols // 2, len(o_line) - n_cols))
    idx = range(start, start + n_cols)
    slice_lines = [Text(f"{axis_name} {start}..{start + n_cols - 1}" + (f" @ch {channel}" if old.ndim > 2 else ""),
                        style="dim"),
                   Text(f"{axis_name:>5}") + Text("".join(f"{i:>{per_col}}" for i in idx), style="bold"),
                   Text("  old" + "".join(" " + _fit(o_line[i], per_col - 1) for i in idx)),
                   Text("  new" + "".join(" " + _fit(n_line[i], per_col - 1) for i in idx)),
                   Text("  |Δ|") + Text.assemble(*[(f"{render.num(d_line[i]):>{per_col}}",
                                                    "bold red" if d_line[i] > 0 else "dim") for i in idx])]
    if side:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        for k in range(max(len(heat), len(slice_lines))):
            grid.add_row(heat[k] if k < len(heat) else Text(""),
                         slice_lines[k] if k < len(slice_lines) else Text(""))
        return Group(*lines, grid), channel, position, n_ch, len(positions)
    return Text("\n").join(lines + slice_lines + heat), channel, position, n_ch, len(positions)


class ActivationsView(Static):
    """The Activations tab; `show` fetches arrays through the accessor only while this tab is visible."""

    def __init__(self, accessor: Callable | None = None, **kwargs):
        super().__init__(**kwargs)
        self.accessor = accessor
        self.channel: int | None = None  # None: the worst channel / position
        self.position: int | None = None
        self.n_channels = 1
        self.n_positions = 1
        self._key: tuple[int, bool] | None = None
        self._pair: tuple | None = None
        self._fetched = False
        self._row: Row | None = None
        self._isolated = False

    def on_resize(self) -> None:
        if self._key is not None and self._row is not None:
            self.show(self._row, self._isolated)

    def show(self, row: Row | None, isolated: bool) -> None:
        self._row, self._isolated = row, isolated
        if row is None:
            self.update(Text("no layer selected", style="dim"))
            return
        key = (row.index, isolated)
        if key != self._key:
            self._key = key
            self.channel = self.position = None
            self._fetched = False
        if not self._fetched:
            self._fetched = True
            self._pair = self.accessor(row.index, isolated) if self.accessor is not None else None
        if self._pair is None:
            why = ("values not kept" if self.accessor is not None else
                   "values not kept (this run keeps statistics only)")
            self.update(Text(why + f" for {render.row_label(row)}", style="dim"))
            return
        text, self.channel, self.position, self.n_channels, self.n_positions = activations_text(
            self._pair, self.channel, self.position, (self.size.width or 78))
        self.update(text)

    def pick(self, attr: str, step: int) -> None:
        """Move the channel or position picker by `step` (wrapping)."""
        current = getattr(self, attr)
        count = self.n_channels if attr == "channel" else self.n_positions
        setattr(self, attr, ((current or 0) + step) % max(1, count))

    def forget(self) -> None:
        """Drop the cached arrays (a new analysis snapshot may hold other values); keep the pickers."""
        self._pair = None
        self._fetched = False
