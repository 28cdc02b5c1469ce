"""kstep: find the exact layer where two Keras models stop agreeing.

Provides the package version; everything else lives in the subpackages (io -> engine -> compare -> report/tui).
"""

__version__ = "0.1.0"
