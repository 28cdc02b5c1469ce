"""kstep: find the exact layer where two Keras models stop agreeing.

Provides the package version; everything else lives in the modules below: cli and options at the edge, then
io -> engine -> compare -> analysis -> report / tui.
"""

__version__ = "0.1.0"
