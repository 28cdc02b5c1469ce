"""Provides `kstep convert`: an old Keras file synthesised into a tf.keras 2 legacy .h5 or a Keras 3 .keras file that
computes what the original computed under its own Keras, checked by kstep before it is kept.

Pipeline (data flows one way): `kstep.io` reads MODEL into an `ir.ModelFile` (every version quirk resolved and recorded)
-> `kstep.convert.bake` turns it into a *target-ready* `ir.ModelSpec` (see `target.TargetReady`) -> one writer per
target format in `kstep.write` (`tfkeras_h5`, `keras3_archive`) writes it -> `kstep.convert.run` re-reads OUT from disk
and compares MODEL with OUT layer by layer before renaming OUT into place.
"""
