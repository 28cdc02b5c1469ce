"""Provides the reader: Keras model files of every generation -> a version-neutral `ModelFile` (kstep.ir).

Entry point: `kstep.io.load.open_model(path, weights=None, assume={})`.
"""
