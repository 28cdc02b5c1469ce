"""Provides `ConfigView`: both layers' resolved parameters side by side, differences marked, and the facts kstep
assumed about each file with the `--assume` key that overrides each."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from kstep.analysis import Analysis, FileInfo, Row
from kstep.tui import render


def _value(params: dict, key: str) -> Text:
    if key not in params:
        return Text("—", style="dim")
    return Text(render.safe(params[key]))


def assumptions(side: str, info: FileInfo, row: Row) -> list[Text]:
    """Facts not read from the file: the file-wide ones and those naming this layer."""
    names = {s.name for s in (row.old, row.new) if s is not None}
    out = []
    for key, value, source, why in info.assumptions:
        if source == "from_file":
            continue
        key = str(key)
        if key.startswith("layer.") and key.split(".")[1] not in names:
            continue
        out.append(Text.assemble((f"{side} ", "bold"), f"{render.safe(key)} = {render.safe(value)} ",
                                 (f"({render.safe(source)}: {render.safe(why)})", "yellow"), "  override: ",
                                 (f"--assume {side.lower()}.{render.safe(key)}=…", "bold")))
    return out


def config(analysis: Analysis, row: Row) -> Group:
    old = row.old.params if row.old else {}
    new = row.new.params if row.new else {}
    differ = {str(k) for k, _, _ in row.config_diff}
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False, padding=(0, 1))
    table.add_column(Text(""), width=1, no_wrap=True)
    table.add_column(Text("parameter", style="bold"), no_wrap=True, overflow="ellipsis", max_width=22)
    table.add_column(Text("old", style="bold"), overflow="fold")
    table.add_column(Text("new", style="bold"), overflow="fold")
    keys = list(dict.fromkeys(list(old) + list(new)))
    keys.sort(key=lambda k: str(k) not in differ)  # differences first
    for key in keys:
        mark = key in differ
        a, b = _value(old, key), _value(new, key)
        if mark:
            a.stylize("bold magenta")
            b.stylize("bold magenta")
        table.add_row(Text("≠" if mark else " ", style="bold magenta"), Text(render.safe(key)), a, b)
    facts = assumptions("OLD", analysis.old, row) + assumptions("NEW", analysis.new, row)
    head = Text(f"≠ {len(differ)} resolved parameter(s) differ" if differ else "resolved parameters agree",
                style="bold magenta" if differ else "green")
    if facts:
        head.append(f" · {len(facts)} assumed fact(s) below", style="yellow")
    parts = [head, table] if keys else [head, Text("no parameters", style="dim")]
    if facts:
        parts.append(Text("assumed", style="bold yellow"))
        parts.extend(facts)
    return Group(*parts)


class ConfigView(Static):
    """The Config tab."""

    def show(self, analysis: Analysis | None, row: Row | None, isolated: bool) -> None:
        if analysis is None or row is None:
            self.update(Text("no layer selected", style="dim"))
            return
        self.update(config(analysis, row))
