"""Provides `align`: pair the layer calls of OLD and NEW, even when names differ.

Pairs are forced by `--map` first, then made by equal keys (NAME, NAME@k, OUTER/INNER), then by canonical kind in
graph order: a weighted longest-common-subsequence over both execution orders (a name match scores 3, a kind match
1), so Keras 1 auto-names (`convolution2d_1`) pair with Keras 2 ones (`conv2d_1`). Layers present in one model only
come back unpaired, in position, never dropped. Long models (over EXACT_CELLS) are first cut at anchors, calls with
one equal key on each side, so the quadratic programme only sees the stretches between them.
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


EXACT_CELLS = 1_000_000
"""Both execution orders are aligned by the exact dynamic programme up to this many cells (1000 x 1000 calls);
longer models are cut at anchors (calls with one equal key on each side, in order) and only the stretches between
anchors go through it: its O(n*m) time and memory made long graphs unusable (50,000 x 50,000 cells)."""
LOOKAHEAD = 64
"""How far the greedy pairing of an over-long stretch looks ahead for a call to pair with."""


def align(old: list[Item], new: list[Item], forced: dict[str, str] | None = None,
          notes: list[str] | None = None) -> list[tuple[Item | None, Item | None]]:
    """[(old item or None, new item or None), ...] in OLD's order, NEW-only items where they fall; `notes` gets a
    line when a stretch was too long to align exactly."""
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

    if len(old) * len(new) <= EXACT_CELLS:
        return _exact(old, new, score)
    pairs: list[tuple[Item | None, Item | None]] = []
    i = j = 0
    greedy = 0
    for a, b in _anchors(old, new, forced_target) + [(len(old), len(new))]:
        if (a - i) * (b - j) <= EXACT_CELLS:
            pairs.extend(_exact(old[i:a], new[j:b], score))
        else:
            greedy += 1
            pairs.extend(_greedy(old[i:a], new[j:b], score))
        if a < len(old):
            pairs.append((old[a], new[b]))
        i, j = a + 1, b + 1
    if greedy and notes is not None:
        notes.append(f"alignment: {greedy} stretch(es) of the execution orders without a common name were too long "
                     f"to align exactly (over {EXACT_CELLS} cells) and were paired greedily by kind, in order")
    return pairs


def _anchors(old: list[Item], new: list[Item], forced_target) -> list[tuple[int, int]]:
    """Pairs (i, j) that can only pair with each other (one equal key, or one forced target, on each side), the
    longest run of them in order on both sides (longest increasing subsequence, O(k log k))."""
    by_key: dict[str, list[int]] = {}
    for j, it in enumerate(new):
        by_key.setdefault(it.key, []).append(j)
        if it.name != it.key:
            by_key.setdefault(it.name, []).append(j)
    wanted: dict[int, list[int]] = {}
    for i, o in enumerate(old):
        target = forced_target(o)
        candidates = set(by_key.get(target, [])) if target is not None else {
            j for j in by_key.get(o.key, []) if new[j].key == o.key}
        if len(candidates) == 1:
            wanted.setdefault(candidates.pop(), []).append(i)
    cand = sorted((olds[0], j) for j, olds in wanted.items() if len(olds) == 1)
    tails: list[int] = []  # tails[k]: index in cand of the smallest end of an increasing run of length k + 1
    prev = [-1] * len(cand)
    for c, (_, j) in enumerate(cand):
        k = _bisect(tails, cand, j)
        if k > 0:
            prev[c] = tails[k - 1]
        if k == len(tails):
            tails.append(c)
        else:
            tails[k] = c
    out: list[tuple[int, int]] = []
    c = tails[-1] if tails else -1
    while c >= 0:
        out.append(cand[c])
        c = prev[c]
    return out[::-1]


def _bisect(tails: list[int], cand: list[tuple[int, int]], j: int) -> int:
    """The first k whose run ends at a new position >= j."""
    lo, hi = 0, len(tails)
    while lo < hi:
        mid = (lo + hi) // 2
        if cand[tails[mid]][1] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _exact(old: list[Item], new: list[Item], score) -> list[tuple[Item | None, Item | None]]:
    """The weighted longest common subsequence of two stretches (O(n*m)): the most score, in order."""
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


def _greedy(old: list[Item], new: list[Item], score) -> list[tuple[Item | None, Item | None]]:
    """Pair in order, O((n + m) * LOOKAHEAD): the next pair is the nearest one within LOOKAHEAD calls on either
    side; what is skipped comes back unpaired, in position."""
    pairs: list[tuple[Item | None, Item | None]] = []
    i = j = 0
    while i < len(old) and j < len(new):
        step = None
        for d in range(LOOKAHEAD):
            if j + d < len(new) and score(old[i], new[j + d]):
                step = (0, d)
                break
            if i + d < len(old) and score(old[i + d], new[j]):
                step = (d, 0)
                break
        if step is None:
            pairs.append((old[i], None))
            i += 1
            continue
        pairs.extend((old[i + k], None) for k in range(step[0]))
        pairs.extend((None, new[j + k]) for k in range(step[1]))
        i, j = i + step[0], j + step[1]
        pairs.append((old[i], new[j]))
        i += 1
        j += 1
    pairs.extend((o, None) for o in old[i:])
    pairs.extend((None, n) for n in new[j:])
    return pairs
