"""Provides `ActivationsView`: both sides' values of the selected pair on the sample in view — a readable slice, a
per-channel max|Δ| sparkline and a heatmap of |Δ| in terminal cells — from the app's optional `activations` accessor.

The accessor returns (old, new) or (old, new, channel_axis), NEW already mapped onto OLD's layout, batch axis first;
channel_axis defaults to -1. It is called in a worker thread (for a sample whose arrays are not kept it runs both
models on that sample, with progress): until it answers the tab keeps what it showed, then, after PLACEHOLDER_AFTER
seconds, says which sample is being computed with a spinner; the UI never waits for it. The pickers: [ ] choose
the channel, { } the sample in view (the screen's), ( ) the position within it (for feature maps the row: the
slice shows that row, the heatmap marks it). Glyphs carry the heatmap's levels (·░▒▓█), colour only adds to them.
Arrays larger than the pane are max-pooled down; numpy is imported only when this tab is shown.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Callable

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from kstep.analysis import Row, SampleSet
from kstep.tui import render
from kstep.tui.messages import ArraysFetched, ArraysProgress

PLACEHOLDER_AFTER = 0.15
"""Seconds a fetch may take before the tab says it is computing (a kept sample answers well within it)."""
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class FetchCancelled(Exception):
    """Raised by the progress callback inside the accessor once its worker is cancelled (ends the fetch early)."""

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


def activations_text(pair: tuple, channel: int | None, position: int | None, width: int,
                     sample: Text | None = None) -> tuple[RenderableType, int, int, int, int]:
    """The tab for one (old, new[, channel_axis]); channel/position None pick the worst; sample: the head's sample
    picker (then the position is within that one sample: the batch axis is not named). Returns the text, the
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

    head = Text(no_wrap=True, overflow="ellipsis")
    if sample is not None:
        head.append_text(sample)
    head.append_text(Text.assemble(("channel ", "bold"), f"{channel}/{n_ch} [ ]  "))
    inner = pos[1:] if sample is not None and len(old) == 1 else pos  # the one sample's index is in `sample`
    if inner:
        where = ", ".join(str(i) for i in inner)
        label = "row" if sample is not None and len(inner) == 1 else "position"
        head.append_text(Text.assemble((label + " ", "bold"), f"{where} {position + 1}/{len(positions)} ( )  "))
    head.append(f"old {render.shape(old.shape, True)}, new mapped onto old", "dim")
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


def sample_picker(sample: int, samples: SampleSet) -> Text:
    """The head's sample picker: 'sample 7 8/16 { }' (absolute index, then its place among the N compared)."""
    return Text.assemble(("sample ", "bold"), f"{sample} {sample - samples.first + 1}/{samples.count} {{ }}  ")


class ActivationsView(Static):
    """The Activations tab; `show` fetches arrays through the accessor (in a worker) only while this tab is
    visible, one fetch at a time: a newer request waits for the running one, then replaces it."""

    def __init__(self, accessor: Callable | None = None, **kwargs):
        super().__init__(**kwargs)
        self.accessor = accessor
        self.channel: int | None = None  # None: the worst channel / position
        self.position: int | None = None
        self.n_channels = 1
        self.n_positions = 1
        self._key: tuple[int, bool, int | None] | None = None  # (row index, isolated, sample) wanted
        self._pair: tuple | None = None  # the arrays for _key once fetched (or still those of the previous key)
        self._pair_key: tuple[int, bool, int | None] | None = None
        self._fetched = False
        self._busy: tuple[int, bool, int | None] | None = None  # the key the worker is fetching
        self._since = 0.0
        self._progress: tuple[int, int] | None = None
        self._row: Row | None = None
        self._isolated = False
        self._sample: int | None = None
        self._samples = SampleSet()
        self._ticks = 0
        self._worker: Worker | None = None

    @property
    def fetching(self) -> bool:
        """A fetch is running (tests wait for it)."""
        return self._busy is not None

    def on_mount(self) -> None:
        self.set_interval(0.1, self._tick)

    def on_resize(self) -> None:
        if self._key is not None and self._row is not None:
            self._draw()

    def show(self, row: Row | None, isolated: bool, sample: int | None = None,
             samples: SampleSet | None = None) -> None:
        """Draw `row` on `sample` (absolute index; None: the accessor's default), fetching its arrays if needed."""
        self._row, self._isolated, self._sample = row, isolated, sample
        self._samples = samples or SampleSet()
        if row is None:
            self.update(Text("no layer selected", style="dim"))
            return
        key = (row.index, isolated, sample)
        if key != self._key:
            if self._key is None or self._key[:2] != key[:2]:
                self.channel = self.position = None  # another layer: the worst channel and position again
            self._key = key
            self._fetched = False
        if not self._fetched:
            if self.accessor is None:
                self._pair, self._pair_key, self._fetched = None, key, True
            else:
                self._fetch()
        self._draw()

    def _fetch(self) -> None:
        """Start the worker for the wanted key, unless one is running (its end starts the next; one computing
        another sample than the wanted one is cancelled: it stops at its next layer call)."""
        if self._key is None:
            return
        if self._busy is not None:
            if self._worker is not None and self._busy[2] != self._key[2]:
                self._worker.cancel()
            return
        key = self._busy = self._key
        self._since, self._progress = time.monotonic(), None
        self._worker = self.run_worker(partial(self._work, key), thread=True, group="activations",
                                       name="activations")

    def _work(self, key: tuple[int, bool, int | None]) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:  # the user moved on, or the app is closing: stop computing this sample
                raise FetchCancelled
            self.post_message(ArraysProgress(key, done, total))

        assert self.accessor is not None
        try:
            pair = self.accessor(*key, progress)
        except FetchCancelled:
            self.post_message(ArraysFetched(key, None, cancelled=True))
            return
        self.post_message(ArraysFetched(key, pair))

    def on_arrays_progress(self, message: ArraysProgress) -> None:
        if message.key == self._busy:
            self._progress = (message.done, message.total)
            self._draw()

    def on_arrays_fetched(self, message: ArraysFetched) -> None:
        self._busy = self._worker = None
        if message.key == self._key and not message.cancelled:
            self._pair, self._pair_key, self._fetched = message.pair, message.key, True
            self._draw()
        elif not self._fetched:
            self._fetch()

    def _tick(self) -> None:
        if self._busy is not None:
            self._ticks += 1
            self._draw()

    def _draw(self) -> None:
        row = self._row
        if row is None or self._key is None:
            return
        if self._busy is not None and self._pair_key != self._key:
            if time.monotonic() - self._since < PLACEHOLDER_AFTER:
                return  # a kept sample answers at once: keep what is shown rather than flash a placeholder
            busy = self._busy[2]
            what = f"sample {busy}" if busy is not None else "the values"
            done = f": layer calls {self._progress[0]}/{self._progress[1]} of both models" if self._progress else ""
            then = f"; then sample {self._sample}" if busy != self._sample else ""
            self.update(Text.assemble((SPINNER[self._ticks % len(SPINNER)] + " ", "bold"),
                                      f"computing {what}…{done}{then}", (f"  ({render.row_label(row)})", "dim")))
            return
        if self._pair is None:
            why = ("values not kept" if self.accessor is not None else
                   "values not kept (this run keeps statistics only)")
            self.update(Text(why + f" for {render.row_label(row)}", style="dim"))
            return
        picker = sample_picker(self._sample, self._samples) if self._sample is not None else None
        text, self.channel, self.position, self.n_channels, self.n_positions = activations_text(
            self._pair, self.channel, self.position, (self.size.width or 78), picker)
        self.update(text)

    def pick(self, attr: str, step: int) -> None:
        """Move the channel or position picker by `step` (wrapping)."""
        current = getattr(self, attr)
        count = self.n_channels if attr == "channel" else self.n_positions
        setattr(self, attr, ((current or 0) + step) % max(1, count))

    def forget(self) -> None:
        """The arrays may be stale (a new analysis snapshot may hold other values): fetch them again when shown,
        keeping what is drawn and the pickers until then."""
        self._fetched = False
