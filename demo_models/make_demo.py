#!/usr/bin/env python3
"""Generate kstep's demo model pairs with REAL Keras (never imported by kstep; needs no kstep code).

OLD side: a small CNN built and saved by real Keras 1.2.2 on Theano 1.0.5, dim_ordering 'th' (NCHW).
NEW side: the same model "migrated" to tf.keras 2 (tf-keras 2.21, channels_last / NHWC), its weights converted
from old.h5 with numpy + h5py by convert() below:

    demo_models/            the headline demo: conv kernels transposed (out,in,r,c) -> (r,c,in,out) but NOT
                            flipped (Theano convolves, TensorFlow cross-correlates), so conv1 is the first layer
                            that disagrees (cause: theano_kernel_flip). Everything else is converted correctly,
                            including fc1's rows (the Dense after Flatten) permuted from C,H,W to H,W,C order.
    demo_models/correct/    the same migration done right (kernels also rotated 180 degrees): every layer agrees.

Files per pair: old.h5, new.h5, ref.npy (OLD input, NCHW, float32, batch 2), ref_new.npy (the same input
transposed to NHWC, what NEW was fed), expected_old.npz / expected_new.npz (every layer's output as that real
Keras computed it, keyed by layer name, each in its own layout: NCHW / NHWC, Flatten in C,H,W / H,W,C order).
demo_models/manifest.json: per-layer max |old - mapped new| for both pairs and the verified first divergent layer.

Regenerate (from the repo root, with the `shared` checkout beside the repo, i.e. ../shared):

    bash ../shared/tools/legacy/setup.sh /tmp/oracle-venvs k1        # Keras 1.2.2 + Theano venv (~2 min)
    bash ../shared/tools/modern/setup.sh /tmp/oracle-venvs/modern    # tf-keras 2.21 venv (or: legacy setup.sh
                                                                     #   /tmp/oracle-venvs modern)
    python3 demo_models/make_demo.py                                 # ~1 min; writes into demo_models/

Options: make_demo.py [OUTDIR] [--venvs ROOT] [--seed N]; OUTDIR defaults to this file's directory, ROOT to
$ORACLE_VENVS or /tmp/oracle-venvs (it must hold k1/, modern/ and setup.sh's theanorc-k1). The driver needs
only the standard library: the phases run as subprocesses, `--phase old` in ROOT/k1 and `--phase new` and
`--phase compare` in ROOT/modern. It exits non-zero unless the broken pair first diverges at conv1 and every
layer of the correct pair agrees within 1e-4.

Keras 1.2.2 under Python 3.11 needs the shims that ../shared/tools/legacy/setup.sh installs into the k1 venv
(sitecustomize.py: inspect.getargspec, collections.Iterable, h5py-2.x-style fixed-length byte-string attributes)
and its theanorc-k1 (float32, cpu, scipy's OpenBLAS). A private HOME/.keras/keras.json ('th', float32) is written
for the OLD run; every layer also gets dim_ordering='th' explicitly.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4
LAYERS = ["conv1", "bn1", "relu1", "pool1", "conv2", "flatten", "fc1", "fc2"]
C, H, W = 3, 16, 16          # OLD input (channels first)
F1, F2, FC1, NCLS = 8, 4, 12, 4
FLAT_CHW = (F2, 6, 6)        # conv2 output: 16x16 -same-> pool 8x8 -valid 3x3-> 6x6
BATCH = 2
PAIRS = {  # subdir -> (flip the Theano kernels?, expected first divergent layer)
    ".": (False, "conv1"),
    "correct": (True, None),
}
KERAS_JSON = {"backend": "theano", "image_dim_ordering": "th", "floatx": "float32", "epsilon": 1e-07}


# ---------------------------------------------------------------------------------------------------------------
# phase old: Keras 1.2.2 + Theano (venv k1)
# ---------------------------------------------------------------------------------------------------------------
def setup_keras1(venvs):
    home = tempfile.mkdtemp(prefix="kstep-demo-keras-home-")
    os.makedirs(os.path.join(home, ".keras"))
    json.dump(KERAS_JSON, open(os.path.join(home, ".keras", "keras.json"), "w"))
    os.environ["HOME"] = home
    os.environ["KERAS_BACKEND"] = "theano"
    rc = os.path.join(venvs, "theanorc-k1")
    if not os.path.exists(rc):
        sys.exit(f"missing {rc}: build the venv with ../shared/tools/legacy/setup.sh {venvs} k1")
    os.environ["THEANORC"] = rc
    import warnings
    warnings.filterwarnings("ignore")
    import theano  # noqa: F401
    import theano.ifelse  # noqa: F401  (Keras 1.2.2 calls theano.ifelse.ifelse without importing it)
    import keras
    assert keras.__version__ == "1.2.2", keras.__version__
    return home


def glorot(rng, shape, fan_in, fan_out):
    import numpy as np
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-lim, lim, shape).astype(np.float32)


def phase_old(outdir, venvs, seed):
    import numpy as np
    home = setup_keras1(venvs)
    import keras
    import keras.backend as K
    from keras.layers import Activation, BatchNormalization, Convolution2D, Dense, Flatten, MaxPooling2D
    from keras.models import Sequential, load_model

    rng = np.random.default_rng(seed)
    np.random.seed(seed % (2 ** 31))
    m = Sequential([
        Convolution2D(F1, 3, 3, border_mode="same", dim_ordering="th", input_shape=(C, H, W), name="conv1"),
        BatchNormalization(mode=0, axis=1, epsilon=1e-3, name="bn1"),
        Activation("relu", name="relu1"),
        MaxPooling2D((2, 2), dim_ordering="th", name="pool1"),
        Convolution2D(F2, 3, 3, border_mode="valid", activation="relu", dim_ordering="th", name="conv2"),
        Flatten(name="flatten"),
        Dense(FC1, activation="relu", name="fc1"),
        Dense(NCLS, activation="softmax", name="fc2"),
    ], name="demo_cnn")

    # every weight from our own seeded generator (not Keras's init): kernels glorot-uniform in the Keras 1 'th'
    # layout (out, in, rows, cols), biases non-zero
    m.get_layer("conv1").set_weights([glorot(rng, (F1, C, 3, 3), C * 9, F1 * 9),
                                      rng.normal(0, 0.1, F1).astype(np.float32)])
    m.get_layer("conv2").set_weights([glorot(rng, (F2, F1, 3, 3), F1 * 9, F2 * 9),
                                      rng.normal(0, 0.1, F2).astype(np.float32)])
    nflat = int(np.prod(FLAT_CHW))
    m.get_layer("fc1").set_weights([glorot(rng, (nflat, FC1), nflat, FC1),
                                    rng.normal(0, 0.1, FC1).astype(np.float32)])
    m.get_layer("fc2").set_weights([2.0 * glorot(rng, (FC1, NCLS), FC1, NCLS),
                                    rng.normal(0, 0.1, NCLS).astype(np.float32)])

    # BN statistics that look trained: measured on a seeded calibration batch of conv1 outputs, then perturbed.
    # Keras 1.2.2 BN weights: gamma, beta, running_mean, running_std -- running_std holds the VARIANCE.
    calib = rng.uniform(0, 1, (16, C, H, W)).astype(np.float32)
    conv1_out = K.function([m.layers[0].input, K.learning_phase()], [m.get_layer("conv1").output])([calib, 0])[0]
    mu = conv1_out.mean(axis=(0, 2, 3))
    var = conv1_out.var(axis=(0, 2, 3))
    m.get_layer("bn1").set_weights([
        rng.uniform(0.5, 1.5, F1).astype(np.float32),                                   # gamma
        rng.normal(0, 0.2, F1).astype(np.float32),                                      # beta
        (mu + rng.normal(0, 0.1, F1) * np.sqrt(var)).astype(np.float32),                # running_mean
        (var * rng.uniform(0.7, 1.4, F1)).astype(np.float32),                           # running_std (= variance)
    ])

    x = rng.uniform(0, 1, (BATCH, C, H, W)).astype(np.float32)  # an "image" in 0..1, NCHW
    layers = [m.get_layer(n) for n in LAYERS]
    f = K.function([m.layers[0].input, K.learning_phase()], [ly.output for ly in layers])
    outs = {n: np.asarray(v) for n, v in zip(LAYERS, f([x, 0]))}  # learning_phase 0 = inference
    pred = m.predict(x, batch_size=BATCH)
    assert np.max(np.abs(pred - outs["fc2"])) < 1e-6

    tmp = os.path.join(outdir, "_old")
    os.makedirs(tmp, exist_ok=True)
    p = os.path.join(tmp, "old.h5")
    m.save(p)  # not compiled: model_config + model_weights, no training_config
    re = load_model(p).predict(x, batch_size=BATCH)
    reload_diff = float(np.max(np.abs(re - pred)))
    assert reload_diff < 1e-6, reload_diff
    np.save(os.path.join(tmp, "ref.npy"), x)
    np.savez_compressed(os.path.join(tmp, "expected_old.npz"), **outs)
    json.dump({"keras": keras.__version__, "reload_max_abs": reload_diff, "argmax": pred.argmax(1).tolist(),
               "probs": pred.round(4).tolist()}, open(os.path.join(tmp, "_old.json"), "w"))
    shutil.rmtree(home, ignore_errors=True)
    print(f"[old] Keras {keras.__version__}: written, reload ok ({reload_diff:.1e})", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# the converter (numpy + h5py): Keras 1.2.2 'th' weights -> tf.keras 2 channels_last
# ---------------------------------------------------------------------------------------------------------------
def read_old_weights(path):
    import h5py
    import numpy as np
    out = {}
    with h5py.File(path, "r") as f:
        g = f["model_weights"]
        for ln in g.attrs["layer_names"]:
            ln = ln.decode() if isinstance(ln, bytes) else str(ln)
            for n in g[ln].attrs["weight_names"]:
                n = n.decode() if isinstance(n, bytes) else str(n)
                out.setdefault(ln, {})[n[len(ln) + 1:]] = np.array(g[ln][n])  # "conv1_W" -> "W"
    return out


def convert(Wold, flip):
    """-> {layer: [arrays in tf-keras order]}. flip=False is the demo's one mistake."""
    import numpy as np

    def kern(w):  # (out, in, r, c) -> (r, c, in, out); a true-convolution kernel must also be rotated 180 deg
        k = np.transpose(w, (2, 3, 1, 0))
        return np.ascontiguousarray(k[::-1, ::-1] if flip else k)

    c, h, w = FLAT_CHW
    fc1 = Wold["fc1"]["W"]  # rows in C,H,W flatten order -> H,W,C (tf-keras Flatten of NHWC)
    fc1 = fc1.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)
    b = Wold["bn1"]
    return {
        "conv1": [kern(Wold["conv1"]["W"]), Wold["conv1"]["b"]],
        "bn1": [b["gamma"], b["beta"], b["running_mean"], b["running_std"]],  # running_std IS the variance
        "conv2": [kern(Wold["conv2"]["W"]), Wold["conv2"]["b"]],
        "fc1": [fc1, Wold["fc1"]["b"]],
        "fc2": [Wold["fc2"]["W"], Wold["fc2"]["b"]],
    }


# ---------------------------------------------------------------------------------------------------------------
# phase new: tf-keras 2.21 (venv modern), channels_last
# ---------------------------------------------------------------------------------------------------------------
def phase_new(outdir):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings
    warnings.filterwarnings("ignore")
    import numpy as np
    import tf_keras as K
    L = K.layers
    tmp = os.path.join(outdir, "_old")
    Wold = read_old_weights(os.path.join(tmp, "old.h5"))
    x = np.ascontiguousarray(np.transpose(np.load(os.path.join(tmp, "ref.npy")), (0, 2, 3, 1)))  # NCHW -> NHWC
    info = {}
    for sub, (flip, _) in PAIRS.items():
        d = os.path.normpath(os.path.join(outdir, sub))
        os.makedirs(d, exist_ok=True)
        K.backend.clear_session()
        m = K.Sequential([
            L.Conv2D(F1, 3, padding="same", input_shape=(H, W, C), name="conv1"),
            L.BatchNormalization(axis=-1, epsilon=1e-3, name="bn1"),
            L.Activation("relu", name="relu1"),
            L.MaxPooling2D(2, name="pool1"),
            L.Conv2D(F2, 3, padding="valid", activation="relu", name="conv2"),
            L.Flatten(name="flatten"),
            L.Dense(FC1, activation="relu", name="fc1"),
            L.Dense(NCLS, activation="softmax", name="fc2"),
        ], name="demo_cnn")
        for ln, ws in convert(Wold, flip).items():
            m.get_layer(ln).set_weights([np.asarray(w, np.float32) for w in ws])
        probe = K.Model(m.inputs, [m.get_layer(n).output for n in LAYERS])
        outs = {n: np.asarray(v) for n, v in zip(LAYERS, probe.predict(x, batch_size=BATCH, verbose=0))}
        p = os.path.join(d, "new.h5")
        m.save(p, save_format="h5")
        re = K.models.load_model(p, compile=False).predict(x, batch_size=BATCH, verbose=0)
        reload_diff = float(np.max(np.abs(re - outs["fc2"])))
        assert reload_diff < 1e-6, reload_diff
        for f in ("old.h5", "ref.npy", "expected_old.npz"):
            shutil.copy(os.path.join(tmp, f), os.path.join(d, f))
        np.save(os.path.join(d, "ref_new.npy"), x)
        np.savez_compressed(os.path.join(d, "expected_new.npz"), **outs)
        info[sub] = {"keras": f"tf-keras {K.__version__}", "reload_max_abs": reload_diff,
                     "argmax": outs["fc2"].argmax(1).tolist(), "probs": outs["fc2"].round(4).tolist()}
        print(f"[new] {sub}: tf-keras {K.__version__}, flip={flip}, reload ok ({reload_diff:.1e})", flush=True)
    json.dump(info, open(os.path.join(tmp, "_new.json"), "w"))


# ---------------------------------------------------------------------------------------------------------------
# phase compare (numpy): map every NEW output onto the OLD layout, max abs difference per layer
# ---------------------------------------------------------------------------------------------------------------
def to_old_layout(name, v):
    import numpy as np
    if v.ndim == 4:
        return np.transpose(v, (0, 3, 1, 2))                     # NHWC -> NCHW
    if name == "flatten":
        c, h, w = FLAT_CHW
        return v.reshape(len(v), h, w, c).transpose(0, 3, 1, 2).reshape(len(v), -1)  # H,W,C -> C,H,W order
    return v


def phase_compare(outdir, seed):
    import numpy as np
    tmp = os.path.join(outdir, "_old")
    old_info = json.load(open(os.path.join(tmp, "_old.json")))
    new_info = json.load(open(os.path.join(tmp, "_new.json")))
    man = {"generator": "make_demo.py", "seed": seed, "tolerance": TOL,
           "old_keras": f"Keras {old_info['keras']} (Theano 1.0.5, dim_ordering 'th')",
           "comparison": "per layer, max |old - map(new)| in float64; map = NHWC->NCHW for 4-D outputs, flatten "
                         "H,W,C -> C,H,W order; first layer over tolerance is the first divergent one",
           "pairs": []}
    bad = []
    for sub, (flip, expected) in PAIRS.items():
        d = os.path.normpath(os.path.join(outdir, sub))
        o, n = np.load(os.path.join(d, "expected_old.npz")), np.load(os.path.join(d, "expected_new.npz"))
        per, first = [], None
        for ln in LAYERS:
            a = o[ln].astype(np.float64)
            b = to_old_layout(ln, n[ln]).astype(np.float64)
            diff = float(np.max(np.abs(a - b)))
            per.append({"layer": ln, "max_abs_diff": diff, "max_abs_old": float(np.max(np.abs(a))),
                        "within_tol": diff <= TOL})
            if diff > TOL and first is None:
                first = ln
        ref = np.load(os.path.join(d, "ref.npy"))
        ref_new = np.load(os.path.join(d, "ref_new.npy"))
        ref_diff = float(np.max(np.abs(ref - np.transpose(ref_new, (0, 3, 1, 2)))))
        ok = first == expected and ref_diff == 0.0
        if not ok:
            bad.append((sub, expected, first))
        rel = "" if sub == "." else sub + "/"
        man["pairs"].append({
            "dir": rel or "./", "old": rel + "old.h5", "new": rel + "new.h5", "ref": rel + "ref.npy",
            "ref_new": rel + "ref_new.npy", "expected_old": rel + "expected_old.npz",
            "expected_new": rel + "expected_new.npz", "kernels_flipped": flip,
            "cause": "theano_kernel_flip" if expected else "none",
            "expected_first_divergent_layer": expected, "verified_first_divergent": first, "verified_ok": ok,
            "new_keras": new_info[sub]["keras"] + " (TensorFlow backend, channels_last)",
            "ref_vs_ref_new_max_abs_after_layout": ref_diff, "per_layer": per,
            "old_argmax": old_info["argmax"], "new_argmax": new_info[sub]["argmax"],
            "old_probs": old_info["probs"], "new_probs": new_info[sub]["probs"]})
        print(f"pair {rel or './'} (flip={flip}): first divergent = {first} (expected {expected})")
        for p in per:
            print(f"    {p['layer']:8s} max|old-new| = {p['max_abs_diff']:.3e}   (max|old| = {p['max_abs_old']:.3g})")
        print(f"    argmax old {old_info['argmax']} new {new_info[sub]['argmax']}")
    json.dump(man, open(os.path.join(outdir, "manifest.json"), "w"), indent=1)
    if bad:
        sys.exit(f"verification FAILED: {bad}")
    print("verification OK")


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", nargs="?", default=HERE)
    ap.add_argument("--venvs", default=os.environ.get("ORACLE_VENVS", "/tmp/oracle-venvs"))
    ap.add_argument("--seed", type=int, default=20240229)
    ap.add_argument("--phase", choices=["old", "new", "compare"])
    a = ap.parse_args()
    outdir = os.path.abspath(a.outdir)
    if a.phase == "old":
        return phase_old(outdir, a.venvs, a.seed)
    if a.phase == "new":
        return phase_new(outdir)
    if a.phase == "compare":
        return phase_compare(outdir, a.seed)
    k1 = os.path.join(a.venvs, "k1", "bin", "python")
    modern = os.path.join(a.venvs, "modern", "bin", "python")
    for py, how in ((k1, "bash ../shared/tools/legacy/setup.sh ROOT k1"),
                    (modern, "bash ../shared/tools/modern/setup.sh ROOT/modern")):
        if not os.path.exists(py):
            sys.exit(f"missing {py}; build it with: {how}")
    os.makedirs(outdir, exist_ok=True)
    me = os.path.abspath(__file__)
    common = [outdir, "--venvs", a.venvs, "--seed", str(a.seed)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")
    try:
        subprocess.run([k1, me, "--phase", "old"] + common, check=True, env=env)
        subprocess.run([modern, me, "--phase", "new"] + common, check=True, env=env)
        subprocess.run([modern, me, "--phase", "compare"] + common, check=True, env=env)
    finally:
        shutil.rmtree(os.path.join(outdir, "_old"), ignore_errors=True)


if __name__ == "__main__":
    main()
