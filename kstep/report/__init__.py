"""Provides the report writers, one per format, shared by `kstep report` and the TUI's export dialog.

FORMATS maps a format name to a `Format` (file suffix + render function `Analysis -> str`). `write_report` writes
atomically (temp file + rename) and refuses to replace any input file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Callable, Sequence

from kstep.analysis import Analysis
from kstep.outputs import refuse_inputs, write_atomic
from kstep.report.to_html import to_html
from kstep.report.to_json import to_json
from kstep.report.to_markdown import to_markdown


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    render: Callable[[Analysis], str]


FORMATS = {
    "md": Format("md", ".md", to_markdown),
    "json": Format("json", ".json", to_json),
    "html": Format("html", ".html", to_html),
}


def format_for(path: str | None, explicit: str | None) -> Format:
    """--format wins; else the output file's suffix; else Markdown."""
    if explicit:
        return FORMATS[explicit]
    if path:
        for fmt in FORMATS.values():
            if path.endswith(fmt.suffix) or (fmt.name == "md" and path.endswith(".markdown")):
                return fmt
    return FORMATS["md"]


def write_report(analysis: Analysis, path: str, fmt: Format, inputs: Sequence[str | None]) -> None:
    """Render and write atomically; refuse a path that is (or links to) one of `inputs` (None entries: absent)."""
    refuse_inputs(path, list(inputs))
    data = fmt.render(analysis).encode("utf-8")

    def write(fh: BinaryIO) -> None:
        fh.write(data)

    write_atomic(path, fmt.suffix, write, "report")
