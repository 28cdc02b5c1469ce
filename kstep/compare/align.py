"""Provides `align`: pair the layer calls of OLD and NEW, even when names differ.

Pairs are forced by `--map` first, then made by equal keys (NAME, NAME@k, OUTER/INNER), then by canonical kind in
graph order: a weighted longest-common-subsequence over both execution orders (a name match scores 3, a kind match
1), so Keras 1 auto-names (`convolution2d_1`) pair with Keras 2 ones (`conv2d_1`). Layers present in one model only
come back unpaired, in position, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from kstep.kinds import info, kinds_where

MERGE_KINDS = kinds_where("merge")
"""Kinds that combine several inputs; any of them pairs with a Keras 1 `Merge` (from kstep.kinds)."""


@dataclass(frozen=True)
class Item:
    """One layer call in one model: its dump key, layer name and canonical kind."""

    key: str
    name: str
    kind: str


def plain_kind(kind: str) -> str | None:
    """The plain kind a CuDNN kind migrates to (CuDNNLSTM -> LSTM), None for any other kind."""
    kind_info = info(kind)
    return None if kind_info is None else kind_info.plain_kind


def _compatible(a: Item, b: Item) -> bool:
    if (plain_kind(a.kind) or a.kind) == (plain_kind(b.kind) or b.kind):
        return True
    return a.kind in MERGE_KINDS and b.kind in MERGE_KINDS and "Merge" in (a.kind, b.kind)


def align(old: list[Item], new: list[Item], forced: dict[str, str] | None = None) -> list[tuple[Item | None,
                                                                                               Item | None]]:
    """[(old item or None, new item or None), ...] in OLD's order, NEW-only items where they fall."""
    forced = dict(forced or {})
    new_keys = {it.key for it in new} | {it.name for it in new}
    old_keys = {it.key for it in old}

    def forced_target(o: Item) -> str | None:
        return forced.get(o.key) or forced.get(o.name)

    def score(o: Item, n: Item) -> int:
        target = forced_target(o)
        if target is not None:
            return 5 if target in (n.key, n.name) else 0
        if o.key == n.key:
            return 3
        if o.key in new_keys or n.key in old_keys:
            return 0  # both names exist on the other side: pair by name only
        return 1 if _compatible(o, n) else 0

    n_old, n_new = len(old), len(new)
    # dp[i][j]: best score aligning old[i:] with new[j:]
    dp = [[0] * (n_new + 1) for _ in range(n_old + 1)]
    for i in range(n_old - 1, -1, -1):
        row, nxt = dp[i], dp[i + 1]
        for j in range(n_new - 1, -1, -1):
            s = score(old[i], new[j])
            best = nxt[j] if nxt[j] >= row[j + 1] else row[j + 1]
            if s and nxt[j + 1] + s > best:
                best = nxt[j + 1] + s
            row[j] = best
    pairs: list[tuple[Item | None, Item | None]] = []
    i = j = 0
    while i < n_old and j < n_new:
        s = score(old[i], new[j])
        if s and dp[i][j] == dp[i + 1][j + 1] + s:
            pairs.append((old[i], new[j]))
            i += 1
            j += 1
        elif dp[i + 1][j] >= dp[i][j + 1]:
            pairs.append((old[i], None))
            i += 1
        else:
            pairs.append((None, new[j]))
            j += 1
    pairs.extend((old[k], None) for k in range(i, n_old))
    pairs.extend((None, new[k]) for k in range(j, n_new))
    return pairs
