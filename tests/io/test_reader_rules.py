"""The reader's version rules (Semantics properties), its per-kind facts (from kstep.kinds) and its module structure."""

import ast
from pathlib import Path

import numpy as np
import pytest

from kstep.errors import BadInput
from kstep.io.detect import generation_of
from kstep.io.limits import check_sizes
from kstep.io.params import as_pairs, as_tuple
from kstep.io.weights import check_shapes, expected_names
from kstep.ir import LayerSpec, WeightRef
from kstep.semantics import Backend, Generation, Semantics

IO_DIR = Path(__file__).resolve().parents[2] / "kstep" / "io"


def sem(version: str, backend: str = "tensorflow") -> Semantics:
    return Semantics(generation_of(version), version, backend)


@pytest.mark.parametrize("version, generation", [
    ("1.2.2", Generation.KERAS1), ("2.2.4", Generation.KERAS2), ("2.2.4-tf", Generation.TF_KERAS),
    ("2.8.0", Generation.TF_KERAS), ("3.10.0", Generation.KERAS3)])
def test_generation_of_returns_the_enum(version, generation):
    """generation_of gives a Generation member, not a bare string."""
    assert generation_of(version) is generation


@pytest.mark.parametrize("version, activation, reset_after", [
    ("1.2.2", "hard_sigmoid", False), ("2.2.5", "hard_sigmoid", False), ("2.3.0", "sigmoid", False),
    ("2.8.0", "sigmoid", True), ("3.1.0", "sigmoid", True)])
def test_recurrent_defaults_follow_the_formats_table(version, activation, reset_after):
    """§4.4: recurrent activation hard_sigmoid before Keras 2.3; GRU reset_after True in tf.keras 2 and Keras 3."""
    assert sem(version).default_recurrent_activation == activation
    assert sem(version).default_gru_reset_after is reset_after


@pytest.mark.parametrize("version, eps", [("1.0.7", 1e-6), ("1.0.8", 1e-5), ("1.1.2", 1e-5), ("1.2.0", 1e-3),
                                          ("2.2.4", 1e-3), ("3.1.0", 1e-3)])
def test_batchnorm_epsilon_default_by_version(version, eps):
    """§4.3: BN epsilon 1e-6 / 1e-5 / 1e-3 by Keras 1 release; mode exists only in Keras 1."""
    assert sem(version).default_bn_epsilon == eps
    assert sem(version).bn_has_mode is version.startswith("1.")


def test_other_reader_rules():
    """Flatten data_format from 2.2.0 (§4.5); nested-model node offset outside Keras 3 (§2.4); 'th' default for
    Keras 1 on Theano; Keras 1 weight layouts only for Keras 1."""
    assert not sem("2.1.6").flatten_has_data_format and sem("2.2.0").flatten_has_data_format
    assert sem("2.8.0").nested_model_inbound_offset and not sem("3.1.0").nested_model_inbound_offset
    assert sem("1.2.2", "theano").default_image_data_format == "channels_first"
    assert sem("1.2.2", Backend.TENSORFLOW).default_image_data_format == "channels_last"
    assert sem("2.2.4", "theano").default_image_data_format == "channels_last"
    assert sem("1.2.2").keras1_weight_layouts and not sem("2.2.4").keras1_weight_layouts


def test_expected_weights_come_from_the_kind_table():
    """Known kinds list their weights (Identity none); an unknown kind is not checked (None)."""
    assert expected_names(LayerSpec("d", "Dense", "Dense", {"use_bias": False})) == ["kernel"]
    assert expected_names(LayerSpec("c", "CuDNNGRU", "CuDNNGRU", {"use_bias": False})) == [
        "kernel", "recurrent_kernel", "bias"]
    assert expected_names(LayerSpec("i", "Identity", "Identity", {})) == []
    assert expected_names(LayerSpec("l", "Lambda", "Lambda", {})) is None


def _refs(*shapes):
    return [WeightRef(f"w{i}", s, "float32", (s,), lambda s=s: np.zeros(s, "float32")) for i, s in enumerate(shapes)]


def test_cudnn_weight_shapes_are_checked_like_lstm():
    """CuDNNLSTM: kernel (in, 4u), recurrent (u, 4u), bias (8u,) pass; a kernel for the wrong units is refused."""
    spec = LayerSpec("c", "CuDNNLSTM", "CuDNNLSTM", {"units": 4})
    check_shapes(spec, _refs((3, 16), (4, 16), (32,)), "f.h5")
    with pytest.raises(BadInput, match=r"weight 'w0' has shape \(3, 12\), its config needs \(input width, 16\)"):
        check_shapes(spec, _refs((3, 12), (4, 16), (32,)), "f.h5")


def test_spatial_parsing_and_size_limits():
    """Keras 1 padding dicts become pairs; an UpSampling size that multiplies the data by 2**21 is refused."""
    assert as_pairs({"top_pad": 1, "bottom_pad": 2, "left_pad": 3, "right_pad": 4}, 2, "padding") == ((1, 2), (3, 4))
    assert as_tuple(2, 3, "strides") == (2, 2, 2)
    with pytest.raises(ValueError, match="is not an integer"):
        as_tuple([1.5, 2], 2, "kernel_size")
    with pytest.raises(BadInput, match="would multiply the data"):
        check_sizes({"size": (2**11, 2**10)}, "up", lambda msg: BadInput(msg), "UpSampling2D")
    check_sizes({"size": (2**11, 2**10)}, "other", lambda msg: BadInput(msg), "Lambda")  # only UpSampling's size


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(kstep.io modules imported at module level, imports found inside functions) of one module."""
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "kstep.io":
                top |= {f"kstep.io.{a.name}" for a in node.names}
            elif node.module.startswith("kstep.io."):
                top.add(node.module)
    inner = [f"{path.name}:{n.lineno}" for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return top, inner


def test_io_has_no_import_cycle_and_no_function_level_imports():
    """Every kstep.io module imports its siblings at module level only, and the import graph has no cycle."""
    graph, inner = {}, []
    for path in IO_DIR.glob("*.py"):
        deps, found = _imports(path)
        graph[f"kstep.io.{path.stem}"] = deps
        inner.extend(found)
    assert not inner, f"imports inside functions: {inner}"
    done: set[str] = set()

    def visit(module: str, stack: tuple[str, ...]) -> None:
        assert module not in stack, f"import cycle: {' -> '.join(stack + (module,))}"
        if module in done:
            return
        for dep in graph.get(module, ()):
            visit(dep, stack + (module,))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_io_modules_stay_under_400_lines():
    """No kstep.io module over 400 lines."""
    long = {p.name: n for p in IO_DIR.glob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long
