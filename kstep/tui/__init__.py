"""Provides the terminal app (`kstep OLD NEW REF`): `make_app` in kstep.tui.app builds it for the CLI and the tests.

Importing this package imports no Textual; kstep.tui.app, messages, screens and widgets do (keys, runner, render
and launch do not: the CLI and the tests use them without the app).
"""
