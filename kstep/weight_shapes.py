"""Provides the per-kind weight-shape rules that `kstep.kinds` attaches to its records (`KindInfo.shapes`).

A rule gets a layer's canonical params and the canonical shapes of its weights (by canonical name; positional names
'0', '1', ... for kinds whose weight names are not fixed) and yields `(weight, ok, wanted)` for each thing its config
fixes: the first one not ok is a contradiction that the reader refuses (kstep.io.weights.check_shapes), naming the
layer, the weight, its shape and `wanted`. Only what the config and the other weights fix is checked, never a size
that depends on the graph (the input width), and only metadata is used (no array is read).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

Shape = tuple[int, ...]
Want = tuple[int | str, ...]  # an int is fixed by the config; a str names a size the config does not fix
Verdict = tuple[str, bool, str]  # (weight, ok, what the config needs)
ShapeRule = Callable[[Mapping[str, Any], Mapping[str, Shape]], Iterator[Verdict]]


def num(p: Mapping[str, Any], key: str) -> int | None:
    """An integer param (bools and anything else: None, i.e. not fixed)."""
    v = p.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def ints(p: Mapping[str, Any], key: str) -> tuple[int, ...] | None:
    """A tuple-of-integers param, else None."""
    v = p.get(key)
    if isinstance(v, (list, tuple)) and all(isinstance(d, int) and not isinstance(d, bool) for d in v):
        return tuple(v)
    return None


def text(want: Want) -> str:
    return "(" + ", ".join(map(str, want)) + ("," if len(want) == 1 else "") + ")"


def fits(shape: Shape, want: Want) -> bool:
    return len(shape) == len(want) and all(isinstance(w, str) or d == w for d, w in zip(shape, want))


def like(s: Mapping[str, Shape], name: str, want: Want) -> Iterator[Verdict]:
    """The verdict on weight `name` (when the layer has it) against the pattern `want`."""
    if name in s:
        yield name, fits(s[name], want), text(want)


def _prod(dims: tuple[int, ...]) -> int:
    out = 1
    for d in dims:
        out *= d
    return out


# --- core ---------------------------------------------------------------------------------------------------------

def dense(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    if (u := num(p, "units")) is not None:
        yield from like(s, "kernel", ("input width", u))
        yield from like(s, "bias", (u,))


def embedding(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    n, d = num(p, "input_dim"), num(p, "output_dim")
    yield from like(s, "embeddings", ("input_dim" if n is None else n, "output_dim" if d is None else d))


def highway(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    w = s.get("W", ())
    d: int | str = w[0] if len(w) == 2 else "input width"
    yield from like(s, "W", (d, d))
    yield from like(s, "W_carry", (d, d))
    yield from like(s, "b", (d,))
    yield from like(s, "b_carry", (d,))


def maxout_dense(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    f, u = num(p, "nb_feature"), num(p, "units")
    yield from like(s, "W", ("nb_feature" if f is None else f, "input width", "units" if u is None else u))
    yield from like(s, "b", ("nb_feature" if f is None else f, "units" if u is None else u))


def einsum_dense(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    """kernel: one axis per letter of the equation's kernel part, sized by output_shape where the output fixes it;
    bias: one axis per output letter from the first bias axis on."""
    eq = p.get("equation")
    if not isinstance(eq, str) or eq.count(",") != 1 or eq.count("->") != 1:
        return
    lhs, out = eq.replace(" ", "").split("->")
    kernel_spec = lhs.split(",")[1].replace("...", "")
    out_spec = out.replace("...", "")
    shape = p.get("output_shape")
    shape = [shape] if isinstance(shape, int) else shape
    sizes: dict[str, int] = {}
    if isinstance(shape, (list, tuple)) and (out.startswith("...") or "..." not in out) and len(shape) <= len(out_spec):
        for letter, d in zip(out_spec[len(out_spec) - len(shape):], shape):
            if isinstance(d, int) and not isinstance(d, bool):
                sizes[letter] = d
    yield from like(s, "kernel", tuple(sizes.get(c, c) for c in kernel_spec))
    axes = p.get("bias_axes")
    if isinstance(axes, str) and axes and all(c in out_spec for c in axes):
        spec = out_spec[min(out_spec.index(c) for c in axes):]
        yield from like(s, "bias", tuple(sizes.get(c, c) if c in axes else 1 for c in spec))


# --- convolutions -------------------------------------------------------------------------------------------------

def _conv_frame(p: Mapping[str, Any], rank: int) -> tuple[Want, int | str]:
    ks = ints(p, "kernel_size")
    f = num(p, "filters")
    spatial: Want = ks if ks is not None and len(ks) == rank else ("kernel",) * rank
    return spatial, ("filters" if f is None else f)


def conv(rank: int) -> ShapeRule:
    def rule(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
        ks, f = _conv_frame(p, rank)
        yield from like(s, "kernel", ks + ("input channels", f))
        yield from like(s, "bias", (f,))
    return rule


def conv_transpose(rank: int) -> ShapeRule:
    def rule(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
        ks, f = _conv_frame(p, rank)
        yield from like(s, "kernel", ks + (f, "input channels"))
        yield from like(s, "bias", (f,))
    return rule


def _depthwise(p: Mapping[str, Any], s: Mapping[str, Shape], rank: int) -> Iterator[Verdict]:
    ks, _ = _conv_frame(p, rank)
    m = num(p, "depth_multiplier")
    yield from like(s, "depthwise_kernel", ks + ("input channels", "depth_multiplier" if m is None else m))


def _depthwise_width(s: Mapping[str, Shape], rank: int) -> int | str:
    dk = s.get("depthwise_kernel", ())
    return dk[-2] * dk[-1] if len(dk) == rank + 2 else "input channels x depth_multiplier"


def separable(rank: int) -> ShapeRule:
    def rule(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
        yield from _depthwise(p, s, rank)
        _, f = _conv_frame(p, rank)
        yield from like(s, "pointwise_kernel", (1,) * rank + (_depthwise_width(s, rank), f))
        yield from like(s, "bias", (f,))
    return rule


def depthwise(rank: int) -> ShapeRule:
    def rule(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
        yield from _depthwise(p, s, rank)
        yield from like(s, "bias", (_depthwise_width(s, rank),))
    return rule


def local(rank: int) -> ShapeRule:
    """LocallyConnected (implementation 1): kernel (output positions, kernel size x input channels, filters);
    bias one value per output position and filter, (*output positions, filters) in either image ordering (the engine
    reshapes it for channels_first, as Keras' bias_add does)."""
    def rule(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
        ks, f = _conv_frame(p, rank)
        window = _prod(tuple(d for d in ks if isinstance(d, int)))
        k = s.get("kernel", ())
        if "kernel" in s:
            yield "kernel", fits(k, ("positions", "window", f)) and k[1] % (window or 1) == 0, text(
                ("output positions", f"{window} x input channels", f))
        positions = k[0] if len(k) == 3 else None
        if "bias" in s:
            b = s["bias"]
            want: Want = (positions or "output positions", f) if rank == 1 else ("rows", "cols", f)
            ok = fits(b, want) and (positions is None or _prod(b[:-1]) == positions)
            yield "bias", ok, text(want) + (f" with rows x cols = {positions}" if rank == 2 and positions else "")
    return rule


# --- normalization, activations -----------------------------------------------------------------------------------

def batch_norm(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    first = next(iter(s.values()), None)
    for name, shape in s.items():
        yield name, len(shape) == 1 and shape == first, f"one value per channel, like {first}"


def layer_norm(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    """gamma/beta: one axis per normalised axis (rank len(axis)), the same shape for both."""
    axis = p.get("axis")
    rank = len(axis) if isinstance(axis, (list, tuple)) else 1
    first = next(iter(s.values()), None)
    for name, shape in s.items():
        yield name, len(shape) == rank and shape == first, (
            f"one value per normalised channel ({rank} axis{'es' if rank > 1 else ''}), like {first}")


def group_norm(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    g = num(p, "groups")
    first = next(iter(s.values()), None)
    for name, shape in s.items():
        ok = len(shape) == 1 and shape == first and (g is None or g <= 0 or shape[0] % g == 0)
        yield name, ok, f"one value per channel, a multiple of groups={g}, like {first}"


def same_per_feature(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    """PReLU, ParametricSoftplus, SReLU: one value per input feature (rank >= 1), the same shape for all; PReLU's
    shared axes have size 1."""
    first = next(iter(s.values()), None)
    shared = p.get("shared_axes")
    shared = [shared] if isinstance(shared, int) else shared
    axes = [a for a in shared if isinstance(a, int) and a > 0] if isinstance(shared, (list, tuple)) else []
    for name, shape in s.items():
        ok = len(shape) >= 1 and shape == first and all(a <= len(shape) and shape[a - 1] == 1 for a in axes)
        yield name, ok, ("the input's feature shape" + (f" with size 1 on shared axes {axes}" if axes else "")
                         + f", like {first}")


# --- recurrent ----------------------------------------------------------------------------------------------------

def matrix_rnn(gates: int) -> ShapeRule:
    """kernel (input width, gates x units), recurrent kernel (units, gates x units), bias gates x units values
    (twice as many for CuDNN and GRU reset_after: (2 x gates x units,) or (2, gates x units))."""
    def rule(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
        if (u := num(p, "units")) is None:
            return
        gu = gates * u
        yield from like(s, "kernel", ("input width", gu))
        yield from like(s, "recurrent_kernel", (u, gu))
        if "bias" in s:
            b = s["bias"]
            yield "bias", b in ((gu,), (2 * gu,), (2, gu)), f"{text((gu,))} (or {text((2 * gu,))}, {text((2, gu))})"
    return rule


def conv_rnn(rank: int, gates: int) -> ShapeRule:
    def rule(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
        ks, f = _conv_frame(p, rank)
        gf: int | str = gates * f if isinstance(f, int) else f"{gates} x filters"
        yield from like(s, "kernel", ks + ("input channels", gf))
        yield from like(s, "recurrent_kernel", ks + (f, gf))
        yield from like(s, "bias", (gf,))
    return rule


# --- attention (weights not named by the table: positional) -------------------------------------------------------

def scalars(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    """Attention: its scale and concat score weight are scalars."""
    for name, shape in s.items():
        yield name, shape == (), "a scalar ()"


def additive_attention(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    for name, shape in s.items():
        yield name, len(shape) == 1, "(key width,)"


def multi_head_attention(p: Mapping[str, Any], s: Mapping[str, Shape]) -> Iterator[Verdict]:
    """query/key/value kernels (input width, heads, key_dim / value_dim) with biases (heads, dim); output kernel
    (heads, value_dim, ...output) with bias (output...)."""
    h, k = num(p, "num_heads"), num(p, "key_dim")
    v = num(p, "value_dim") or k
    if h is None or k is None or v is None:
        return
    shapes = list(s.values())
    bias = len(shapes) == 8
    if len(shapes) not in (4, 8):
        return
    step = 2 if bias else 1
    for i, d in enumerate((k, k, v)):
        yield str(i * step), fits(shapes[i * step], ("input width", h, d)), text(("input width", h, d))
        if bias:
            yield str(i * step + 1), shapes[i * step + 1] == (h, d), text((h, d))
    o = shapes[3 * step]
    yield str(3 * step), len(o) >= 3 and o[:2] == (h, v), text((h, v, "output width"))
    if bias:
        yield "7", shapes[7] == o[2:], text(o[2:])
