"""Provides the main screen's widgets, one per file, grouped by screen area (header, table, detail tabs, footer)."""
