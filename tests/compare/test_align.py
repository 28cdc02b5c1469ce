"""Layer alignment: by name, then by kind in graph order; one-sided layers kept in place."""

from kstep.compare.align import Item, align


def items(*spec):
    return [Item(k, k, kind) for k, kind in spec]


def test_keras1_auto_names_pair_by_kind_and_position():
    old = items(("convolution2d_1", "Conv2D"), ("batchnormalization_1", "BatchNormalization"),
                ("flatten_1", "Flatten"), ("dense_1", "Dense"))
    new = items(("conv2d_1", "Conv2D"), ("batch_normalization_1", "BatchNormalization"),
                ("flatten_1", "Flatten"), ("dense_1", "Dense"))
    pairs = align(old, new)
    assert [(o.key, n.key) for o, n in pairs] == [("convolution2d_1", "conv2d_1"),
                                                  ("batchnormalization_1", "batch_normalization_1"),
                                                  ("flatten_1", "flatten_1"), ("dense_1", "dense_1")]


def test_added_and_removed_layers_are_listed_not_dropped():
    old = items(("a", "Dense"), ("drop", "Dropout"), ("b", "Dense"))
    new = items(("a", "Dense"), ("b", "Dense"), ("extra", "Activation"))
    pairs = align(old, new)
    assert [(o and o.key, n and n.key) for o, n in pairs] == [("a", "a"), ("drop", None), ("b", "b"),
                                                              (None, "extra")]


def test_forced_map_wins():
    old = items(("x", "Dense"), ("y", "Dense"))
    new = items(("p", "Dense"), ("q", "Dense"))
    pairs = align(old, new, {"x": "q"})
    assert ("x", "q") in [(o and o.key, n and n.key) for o, n in pairs]
