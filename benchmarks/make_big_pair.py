#!/usr/bin/env python3
"""Write the ResNet50-sized pair that `first_paint.py --big` times (never committed: ~200 MB).

Usage (in the throwaway Keras venv): /tmp/oracle-venvs/modern/bin/python benchmarks/make_big_pair.py [--out /tmp/fp]

OLD is `tf_keras.applications.ResNet50(weights=None)` saved as a legacy `.h5`; NEW is the same model with one
convolution kernel flipped (`conv2_block1_2_conv`, kernel[::-1, ::-1]), so the first divergence is the tenth pair
with a verified cause; REF is a seeded random (1, 224, 224, 3) float32 input. Then:

    python benchmarks/first_paint.py --big OUT/resnet_old.h5 OUT/resnet_new.h5 OUT/resnet_ref.npy
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/fp")
    parser.add_argument("--layer", default="conv2_block1_2_conv", help="the convolution whose kernel NEW flips")
    args = parser.parse_args()
    import numpy as np
    import tf_keras

    os.makedirs(args.out, exist_ok=True)
    model = tf_keras.applications.ResNet50(weights=None)
    model.save(os.path.join(args.out, "resnet_old.h5"))
    layer = model.get_layer(args.layer)
    weights = layer.get_weights()
    weights[0] = weights[0][::-1, ::-1].copy()
    layer.set_weights(weights)
    model.save(os.path.join(args.out, "resnet_new.h5"))
    rng = np.random.default_rng(0)
    np.save(os.path.join(args.out, "resnet_ref.npy"), rng.random((1, 224, 224, 3), dtype=np.float32))
    print(f"wrote {args.out}/resnet_old.h5, resnet_new.h5, resnet_ref.npy")


if __name__ == "__main__":
    main()
