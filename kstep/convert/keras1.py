"""Provides the baking pass for Keras-1-only layer kinds: each becomes the standard tf.keras 2 layers that compute
the same (keras-formats.md §4.8 for Merge): Merge modes as Add/Multiply/Average/Maximum/Concatenate/Dot (cos as
Dot(normalize=True)), MaxoutDense as Dense + Reshape + GlobalMaxPooling1D, Highway as two Dense layers and
Subtract/Multiply/Add,
ParametricSoftplus and SReLU as kstep.convert.keras1_activations composes them. The last layer of each
replacement keeps the original name, so the graph and the
comparison's alignment still find it.
"""

from __future__ import annotations

from kstep.convert.annotate import Annotations
from kstep.convert.graph import call_key, derived, new_layer, replace_with_chain, walk
from kstep.convert.keras1_activations import parametric_softplus, srelu
from kstep.convert.target import NotExpressible
from kstep.ir import LayerSpec, ModelSpec, TensorRef

_ELEMENTWISE = {"sum": "Add", "mul": "Multiply", "ave": "Average", "max": "Maximum"}


def _dot_shape(shapes: tuple[tuple[int, ...], ...], axes) -> tuple[int, ...]:
    """The output shape (batch excluded) of tf.keras 2's Dot on these batch-first input shapes."""
    a, b = shapes
    pair = [axes, axes] if isinstance(axes, int) else list(axes)
    pair = [ax % len(s) for ax, s in zip(pair, (a, b))]
    rest = [d for i, d in enumerate(a) if i not in (0, pair[0])] + [d for i, d in enumerate(b) if i not in (0, pair[1])]
    return tuple(rest) if rest else (1,)


def _merge(model: ModelSpec, spec: LayerSpec, ann: Annotations, prefix: str, done: list[str]) -> None:
    mode = spec.params.get("mode", "sum")
    if mode in _ELEMENTWISE or mode == "concat":
        kind = _ELEMENTWISE.get(mode, "Concatenate")
        params = {"axis": int(spec.params.get("concat_axis", -1))} if mode == "concat" else {}
        layer = LayerSpec(spec.name, kind, kind, params, trainable=spec.trainable)
        replace_with_chain(model, spec, lambda inputs, c: [(layer, inputs)])
        done.append(f"{spec.name}: Keras 1 Merge(mode={mode!r}) -> {kind}")
        return
    if mode not in ("dot", "cos"):
        raise NotExpressible(spec.name, f"Keras 1 Merge mode {mode!r} (a Python function kstep never runs)")
    axes = spec.params.get("dot_axes", -1)
    seen = ann.of(call_key(prefix, spec, 0))
    if seen is None or len(seen.in_shapes) != 2:
        raise NotExpressible(spec.name, f"Merge(mode={mode!r}) needs exactly two inputs of known shapes")
    dot_params = {"axes": axes if isinstance(axes, int) else list(axes), "normalize": mode == "cos"}
    want = tuple(seen.out_shapes[0][1:])
    if _dot_shape(seen.in_shapes, axes) == want:
        dot = LayerSpec(spec.name, "Dot", "Dot", dot_params, trainable=spec.trainable)
        replace_with_chain(model, spec, lambda inputs, c: [(dot, inputs)])
    else:
        dot = new_layer(model, f"{spec.name}_dot", "Dot", dot_params)
        shape = LayerSpec(spec.name, "Reshape", "Reshape", {"target_shape": list(want)})
        replace_with_chain(model, spec, lambda inputs, c: [(dot, inputs), (shape, [TensorRef(dot.name, c, 0)])])
    done.append(f"{spec.name}: Keras 1 Merge(mode={mode!r}) -> Dot(normalize={mode == 'cos'})")


def _maxout(model: ModelSpec, spec: LayerSpec, done: list[str]) -> None:
    """max over k of (x W[k] + b[k]) = GlobalMaxPooling1D(Reshape((k, units))(Dense(k * units)))."""
    w_ref = spec.weights[0]
    k, n_in, units = w_ref.shape
    kernel = derived(w_ref, lambda a: a.transpose(1, 0, 2).reshape(n_in, k * units), (n_in, k * units),
                     "MaxoutDense W (k, in, units) -> Dense kernel (in, k*units)")
    weights = [kernel]
    use_bias = bool(spec.params.get("use_bias", True)) and len(spec.weights) > 1
    if use_bias:
        weights.append(derived(spec.weights[1], lambda a: a.reshape(k * units), (k * units,),
                               "MaxoutDense b (k, units) -> Dense bias (k*units)"))
    dense = new_layer(model, f"{spec.name}_dense", "Dense",
                      {"units": k * units, "activation": "linear", "use_bias": use_bias}, weights)
    reshape = new_layer(model, f"{spec.name}_pieces", "Reshape", {"target_shape": [k, units]},
                        taken=frozenset({dense.name}))
    pool = LayerSpec(spec.name, "GlobalMaxPooling1D", "GlobalMaxPooling1D",
                     {"data_format": "channels_last", "keepdims": False})
    replace_with_chain(model, spec, lambda inputs, c: [(dense, inputs), (reshape, [TensorRef(dense.name, c, 0)]),
                                                       (pool, [TensorRef(reshape.name, c, 0)])])
    done.append(f"{spec.name}: Keras 1 MaxoutDense(nb_feature={k}) -> {dense.name} (Dense) + {reshape.name} "
                f"(Reshape) + GlobalMaxPooling1D")


def _highway(model: ModelSpec, spec: LayerSpec, done: list[str]) -> None:
    """y = t*h + (1-t)*x = x + t*(h - x), h = act(x W + b), t = sigmoid(x W_carry + b_carry)."""
    use_bias = bool(spec.params.get("use_bias", True)) and len(spec.weights) == 4
    w, w_carry = spec.weights[0], spec.weights[1]
    transform = new_layer(model, f"{spec.name}_h", "Dense",
                          {"units": w.shape[1], "activation": spec.params.get("activation", "linear"),
                           "use_bias": use_bias}, [w] + ([spec.weights[2]] if use_bias else []))
    gate = new_layer(model, f"{spec.name}_t", "Dense", {"units": w.shape[1], "activation": "sigmoid",
                                                          "use_bias": use_bias},
                     [w_carry] + ([spec.weights[3]] if use_bias else []), taken=frozenset({transform.name}))
    diff = new_layer(model, f"{spec.name}_h_minus_x", "Subtract", {}, taken=frozenset({transform.name, gate.name}))
    gated = new_layer(model, f"{spec.name}_gated", "Multiply", {},
                      taken=frozenset({transform.name, gate.name, diff.name}))
    out = LayerSpec(spec.name, "Add", "Add", {})

    def chain(inputs: list[TensorRef], c: int):
        return [(transform, inputs), (gate, inputs), (diff, [TensorRef(transform.name, c, 0), inputs[0]]),
                (gated, [TensorRef(gate.name, c, 0), TensorRef(diff.name, c, 0)]),
                (out, [inputs[0], TensorRef(gated.name, c, 0)])]
    replace_with_chain(model, spec, chain)
    done.append(f"{spec.name}: Keras 1 Highway -> x + t*(h - x) with {transform.name}, {gate.name} (Dense), "
                f"{diff.name} (Subtract), {gated.name} (Multiply), Add")


def bake_keras1_kinds(model: ModelSpec, ann: Annotations, done: list[str]) -> None:
    """Every Keras-1-only kind of `model` (nested models too) replaced by standard layers, or refused by name."""
    for prefix, holder, spec in walk(model):
        if spec.kind == "ParametricSoftplus":
            parametric_softplus(holder, spec, ann, prefix, done)
        elif spec.kind == "SReLU":
            srelu(holder, spec, ann, prefix, done)
        elif spec.kind == "Merge":
            _merge(holder, spec, ann, prefix, done)
        elif spec.kind == "MaxoutDense":
            _maxout(holder, spec, done)
        elif spec.kind == "Highway":
            _highway(holder, spec, done)

