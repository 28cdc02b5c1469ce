"""Provides `split_pool`: a Theano 'same' max or average pool, whose padded cells never take part (not in a max, not
counted in a mean), rewritten exactly in standard layers. Along each axis the output windows fall into runs: the
interior windows (all k cells real, stride s) and each border window (fewer real cells). Each run of each axis is a
Cropping of exactly the real cells its windows cover, pooled 'valid' with the run's own window; the regions are
concatenated back along the axes (columns within a row band, then the bands). The result is the same windows over
the same cells, so the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from kstep.convert.graph import fresh_name, replace_with_chain
from kstep.convert.target import NotExpressible
from kstep.engine import _windows as W
from kstep.ir import LayerSpec, ModelSpec, TensorRef


@dataclass(frozen=True)
class Run:
    """Consecutive output windows of one axis with the same extent: crop [lo, hi) of the input, pool `k` at `s`."""

    lo: int
    hi: int
    k: int
    s: int


def axis_runs(n: int, k: int, s: int, rank: int) -> list[Run]:
    """The runs of one axis of n cells for Theano's 'same' pool (kstep.engine._windows.pool_axis)."""
    pad = W.pool_axis(n, k, s, "same", True, rank)
    runs: list[Run] = []
    for i in range(pad.out):
        lo, hi = max(i * s - pad.before, 0), min(i * s - pad.before + k, n)
        if hi <= lo:
            raise ValueError("a window with no real cell")
        last = runs[-1] if runs else None
        if last is not None and hi - lo == k and last.k == k and lo == last.hi - k + s:
            runs[-1] = Run(last.lo, hi, k, s)
        else:
            runs.append(Run(lo, hi, hi - lo, s if hi - lo == k else hi - lo))
    return runs


def split_pool(model: ModelSpec, spec: LayerSpec, in_shape: tuple[int, ...], done: list[str]) -> None:
    """Replace the 1D/2D pool `spec` (reading `in_shape`, batch first, in its data_format) by its regions."""
    fmt = spec.params.get("data_format") or "channels_last"
    rank = len(spec.params["pool_size"])
    if rank > 2:
        raise NotExpressible(spec.name, "Theano's 'same' 3D pooling leaves padded cells out; kstep splits 1D and "
                                        "2D pools only")
    sizes = in_shape[2:] if fmt == "channels_first" and rank > 1 else in_shape[1:1 + rank]
    strides = spec.params.get("strides") or spec.params["pool_size"]
    per_axis = [axis_runs(sizes[i], spec.params["pool_size"][i], strides[i], rank) for i in range(rank)]
    first_axis = 2 if fmt == "channels_first" and rank > 1 else 1
    taken: set[str] = set()

    def name(base: str) -> str:
        chosen = fresh_name(model, base, frozenset(taken))
        taken.add(chosen)
        return chosen

    layers: list[tuple[LayerSpec, list[TensorRef]]] = []
    source: list[TensorRef] = []

    def region(rows: Run, cols: Run | None) -> LayerSpec:
        runs = [rows] if cols is None else [rows, cols]
        crop = tuple((r.lo, sizes[i] - r.hi) for i, r in enumerate(runs))
        params: dict = {"cropping": crop[0] if rank == 1 else crop}
        pool_params: dict = {"pool_size": tuple(r.k for r in runs), "strides": tuple(r.s for r in runs),
                             "padding": "valid"}
        if rank > 1:
            params["data_format"] = pool_params["data_format"] = fmt
        cropped = LayerSpec(name(f"{spec.name}_crop"), f"Cropping{rank}D", f"Cropping{rank}D", params)
        pooled = LayerSpec(name(f"{spec.name}_part"), spec.kind, spec.kind, pool_params)
        layers.append((cropped, source))
        layers.append((pooled, [TensorRef(cropped.name, 0, 0)]))
        return pooled

    def concat(parts: list[LayerSpec], axis: int, final: bool) -> LayerSpec:
        if len(parts) == 1 and not final:
            return parts[0]
        layer = LayerSpec(spec.name if final else name(f"{spec.name}_band"), "Concatenate", "Concatenate",
                          {"axis": axis})
        layers.append((layer, [TensorRef(p.name, 0, 0) for p in parts]))
        return layer

    if len(spec.calls) != 1:
        raise NotExpressible(spec.name, "a shared Theano 'same' pool (kstep splits pools called once)")
    source.extend(spec.calls[0].inputs)
    if rank == 1:
        concat([region(r, None) for r in per_axis[0]], first_axis, True)
    else:
        bands = [concat([region(r, c) for c in per_axis[1]], first_axis + 1, False) for r in per_axis[0]]
        concat(bands, first_axis, True)
    replace_with_chain(model, spec, lambda inputs, c: layers)
    done.append(f"{spec.name}: Theano's 'same' {spec.kind} leaves padded cells out; written as "
                f"{sum(1 for layer, _ in layers if layer.kind == spec.kind)} valid pools over the exact real cells of "
                f"its border and interior windows, concatenated back")

