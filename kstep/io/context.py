"""Provides `Context` (what canonicalizing a layer needs to know about its file) and `make_context`, which decides
the keras.json image ordering for layers that did not store theirs.

The ordering is taken from the file itself when every layer that stored one agrees; otherwise it is the writer's
default (`Semantics.default_image_data_format`), recorded as an assumed `Fact` that `--assume` can override.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kstep.ir import Fact, Source
from kstep.semantics import Semantics

MAX_SCAN_DEPTH = 64


@dataclass
class Context:
    """What canonicalization needs to know about the file: semantics, overrides, the file's image ordering evidence."""

    sem: Semantics
    assume: dict[str, str]
    image_data_format: str  # the keras.json value assumed for layers that did not store theirs
    image_data_format_fact: Fact


def make_context(config: Any, sem: Semantics, assume: dict[str, str]) -> Context:
    """Decide the keras.json image ordering for layers that did not store theirs, from evidence in the file."""
    if "image_data_format" in assume:
        value = assume["image_data_format"]
        fact = Fact("image_data_format", value, Source.OVERRIDE, "--assume image_data_format")
        return Context(sem, assume, value, fact)
    seen: set[str] = set()
    _scan_orderings(config, seen, 0)
    if len(seen) == 1:
        value = seen.pop()
        why = f"every layer that stored an ordering in this file uses {value}"
    elif sem.default_image_data_format == "channels_first":
        value = "channels_first"
        why = ("no consistent ordering stored in the file; Keras 1 with Theano defaulted to 'th'"
               + (" (the file mixes both)" if seen else ""))
    else:
        value = "channels_last"
        why = (f"no consistent ordering stored in the file; the {sem.backend} default 'channels_last'"
               + (" (the file mixes both)" if seen else ""))
    return Context(sem, assume, value, Fact("image_data_format", value, Source.ASSUMED, why))


def _scan_orderings(node: Any, seen: set[str], depth: int) -> None:
    """Add to `seen` every ordering ('th'/'tf' or channels_first/last) stored anywhere in a config."""
    if depth > MAX_SCAN_DEPTH:
        return
    if isinstance(node, dict):
        for key in ("dim_ordering", "data_format"):
            value = node.get(key)
            if value in ("th", "channels_first"):
                seen.add("channels_first")
            elif value in ("tf", "channels_last"):
                seen.add("channels_last")
        for value in node.values():
            if isinstance(value, (dict, list)):
                _scan_orderings(value, seen, depth + 1)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, (dict, list)):
                _scan_orderings(value, seen, depth + 1)
