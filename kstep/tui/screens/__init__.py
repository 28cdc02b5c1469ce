"""Provides the app's screens: the main screen and its modal dialogs (help, tolerance, export)."""
