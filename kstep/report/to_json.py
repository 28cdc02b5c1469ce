"""Provides `to_dict` / `to_json`: the analysis as one versioned JSON document (schema `kstep.report/2`).

Keys are in a fixed order (the order written here), numbers as floats or null; no timestamps or durations, so the
same inputs give byte-identical reports. The schema is documented in docs/report-json.md.
"""

from __future__ import annotations

import json
import math

from kstep.analysis import (
    Analysis,
    FileInfo,
    FirstDivergence,
    Heatmaps,
    Hypothesis,
    Row,
    SampleSet,
    SampleVerdict,
    Side,
    Stats,
    Tolerance,
)
from kstep.edits import AppliedFix, Edit
from kstep.report.samples import summary_line

SCHEMA = "kstep.report/2"


def _num(x):
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(f"{x:.6g}")


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


def _file(f: FileInfo) -> dict:
    return {"path": f.path, "sha256": f.sha256, "keras_version": f.keras_version, "backend": f.backend,
            "generation": f.generation, "executed_with_backend": f.detected_backend,
            "assumptions": [{"key": k, "value": _plain(v), "source": s, "why": w} for k, v, s, w in f.assumptions]}


def _tol(t: Tolerance) -> dict:
    return {"atol": _num(t.atol), "rtol": _num(t.rtol), "source": t.source, "noise_floor": _num(t.noise_floor)}


def _stats(s: Stats | None) -> dict | None:
    if s is None:
        return None
    return {"passed": s.passed, "max_abs": _num(s.max_abs), "max_rel": _num(s.max_rel), "mean_abs": _num(s.mean_abs),
            "worst_index": None if s.worst_index is None else list(s.worst_index), "worst_old": _num(s.worst_old),
            "worst_new": _num(s.worst_new), "nan_mismatch": s.nan_mismatch, "shape_old": list(s.shape_old),
            "shape_new": list(s.shape_new), "samples": s.samples, "samples_beyond": s.samples_beyond,
            "nan_old": s.nan_old, "nan_new": s.nan_new, "inf_old": s.inf_old, "inf_new": s.inf_new,
            "tolerance": _tol(s.tolerance)}


def _side(s: Side | None) -> dict | None:
    if s is None:
        return None
    return {"key": s.key, "name": s.name, "class_name": s.class_name, "kind": s.kind,
            "shape": None if s.shape is None else list(s.shape)}


def _edit(e: Edit) -> dict:
    return {"layer": e.layer, "op": e.op.name.lower(), "weights": [e.names[i] if i < len(e.names) else i
                                                                  for i in e.weights],
            "args": [_plain(x) for x in e.args], "key": e.key or None, "value": _plain(e.value) if e.key else None,
            "words": e.describe()}


def _hyp(h: Hypothesis) -> dict:
    return {"code": h.code, "title": h.title, "explains": h.explains, "before": _num(h.before),
            "after": _num(h.after), "action": h.action, "detail": h.detail, "edits": [_edit(e) for e in h.edits],
            "unfixable": h.unfixable or None}


def _fix(f: AppliedFix) -> dict:
    return {"cause": f.cause, "title": f.title, "layer": f.layer, "edits": [_edit(e) for e in f.edits],
            "before": _num(f.before), "after": _num(f.after)}


def _row(r: Row) -> dict:
    return {"index": r.index, "status": r.status, "old": _side(r.old), "new": _side(r.new), "layout": r.layout,
            "propagated": _stats(r.propagated), "isolated": _stats(r.isolated),
            "weights": [{"old": w.name_old, "new": w.name_new, "shape_old": _plain(w.shape_old),
                         "shape_new": _plain(w.shape_new), "verdict": str(w.verdict), "max_abs": _num(w.max_abs)}
                        for w in r.weights],
            "config_diff": [{"param": k, "old": _plain(a), "new": _plain(b)} for k, a, b in r.config_diff],
            "note": r.note}


def _maps(m: Heatmaps | None) -> dict | None:
    """Where the HTML report's heatmaps were taken and their scales (the cells themselves stay in the HTML)."""
    if m is None:
        return None
    return {"row": m.row, "layer": m.layer, "sample": m.sample, "channel": m.channel, "fixed": list(m.fixed),
            "shape": list(m.shape), "step": list(m.step), "cells": [len(m.old), len(m.old[0]) if m.old else 0],
            "lo": _num(m.lo), "hi": _num(m.hi), "delta_max": _num(m.delta_max)}


def _first(f: FirstDivergence | None, maps: Heatmaps | None) -> dict | None:
    if f is None:
        return None
    return {"row": f.row, "layer_old": f.old_layer, "layer_new": f.new_layer, "reason": f.reason, "cause": f.cause,
            "summary": f.summary, "sample": f.sample, "samples_diverging": f.samples_diverging,
            "hypotheses": [_hyp(h) for h in f.hypotheses], "heatmaps": _maps(maps)}


def _verdict(v: SampleVerdict) -> dict:
    return {"sample": v.sample, "outputs_agree": v.outputs_agree, "max_abs": _num(v.max_abs),
            "top1_old": v.top1_old, "top1_new": v.top1_new, "top1_flipped": v.top1_flipped,
            "top5_old": None if v.top5_old is None else list(v.top5_old),
            "top5_new": None if v.top5_new is None else list(v.top5_new), "top5_changed": v.top5_changed,
            "first_row": v.first_row}


def _samples(s: SampleSet) -> dict:
    return {"count": s.count, "first": s.first, "noise_samples": s.noise_samples, "chunk": s.chunk,
            "chunks": s.chunks, "max_memory": s.max_memory, "notes": list(s.notes)}


def to_dict(a: Analysis) -> dict:
    return {
        "schema": SCHEMA,
        "kstep_version": a.kstep_version,
        "command": list(a.command),
        "old": _file(a.old),
        "new": _file(a.new),
        "tolerance": _tol(a.tolerance),
        "input_notes": list(a.input_notes),
        "complete": a.complete,
        "agree": a.agree,
        "samples": _samples(a.samples),
        "summary": summary_line(a) if a.complete and a.verdicts else None,
        "first_divergence": _first(a.first_divergence, a.heatmaps),
        "fixes": [_fix(f) for f in a.fixes],
        "verdicts": [_verdict(v) for v in a.verdicts],
        "layers": [_row(r) for r in a.rows],
    }


def to_json(a: Analysis) -> str:
    return json.dumps(to_dict(a), indent=1, ensure_ascii=True) + "\n"
