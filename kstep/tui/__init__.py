"""Provides the terminal app (`kstep OLD NEW REF`): `make_app` in kstep.tui.app builds it for the CLI and the tests.

Importing this package imports no Textual; only kstep.tui.app and the screens/widgets do.
"""
