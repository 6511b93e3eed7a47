"""Reports over runs: mean ± std over folds, in the layout of the paper's tables, beside its figures.

Each run directory holds the `results.json` that training or evaluation wrote. Runs are grouped by
(preset, dataset); a group's folds give mean ± std (population std over folds, as DFER papers report
it); the paper's own UAR / WAR are shown in a row beside ours where it reports that variant.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from finecliper.config.presets import PAPER_RESULTS
from finecliper.errors import UserError

DATASET_TITLES = {"dfew": "DFEW", "ferv39k": "FERV39k", "mafw": "MAFW", "synthetic": "Synthetic"}
# Model-selection protocols (results.json "selection", data.select_on) as every table names them.
SELECTION_TITLES = {"val": "best epoch on validation", "test": "best epoch on test fold", "last": "last epoch",
                    "none": "none (no training)"}
# The paper states no selection; its no-adapter baseline reproduces DFER-CLIP's published numbers exactly,
# and DFER-CLIP selects on the test fold (docs/design.md §2).
PAPER_SELECTION = "not stated (its baseline reproduces DFER-CLIP, which selects on the test fold)"


def selection_of(result: dict) -> str:
    """The protocol a results.json followed; results written before it was recorded give it through
    select_on (a zero-shot run, which has no labelled validation split, then kept its last epoch)."""
    if "selection" in result:
        return result["selection"]
    select_on = result.get("select_on", "val")
    return "last" if result.get("zero_shot") and select_on == "val" else select_on


def selection_title(selection: str) -> str:
    return SELECTION_TITLES.get(selection, selection)


def read_results(run_dirs: list[str | Path]) -> list[dict]:
    results = []
    for run in run_dirs:
        path = Path(run)
        path = path if path.name == "results.json" else path / "results.json"
        if not path.is_file():
            raise UserError(f"{run} holds no results.json; is it a finished run directory?")
        try:
            results.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} is not valid JSON ({exc})") from None
    return results


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float) * 100
    return float(arr.mean()), float(arr.std())


def summarise(results: list[dict]) -> dict:
    """{(preset, dataset): {uar, war (mean, std in %), folds, per_class {name: mean %}, selection (the
    protocols of its runs), zero_shot}}, the
    groups in the order their first run comes in `results`."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        groups[(r["preset"], r["dataset"])].append(r)
    summary = {}
    for key, runs in groups.items():
        tests = [r["test"] for r in runs]
        classes = tests[0]["class_names"]
        per_class = {}
        for name in classes:
            values = [t["per_class_recall"][name] for t in tests if t["per_class_recall"].get(name) is not None]
            per_class[name] = float(np.mean(values) * 100) if values else None
        summary[key] = {
            "uar": _mean_std([t["uar"] for t in tests]),
            "war": _mean_std([t["war"] for t in tests]),
            "folds": sorted((r.get("fold") for r in runs), key=lambda f: (f is None, f)),
            "per_class": per_class,
            "selection": sorted({selection_of(r) for r in runs}),
            "zero_shot": any(r.get("zero_shot") for r in runs),
        }
    return summary


def _cell(mean_std: tuple[float, float], n: int) -> str:
    return f"{mean_std[0]:.2f} ± {mean_std[1]:.2f}" if n > 1 else f"{mean_std[0]:.2f}"


def _selection_cell(summary: dict, preset: str, datasets: list[str]) -> str:
    protocols = sorted({p for d in datasets for p in summary.get((preset, d), {}).get("selection", [])})
    return ", ".join(selection_title(p) for p in protocols)


def markdown(summary: dict) -> str:
    """The main table (a row per preset, ours and the paper's, with the model selection of each) and a
    per-class table per (preset, dataset), each naming its selection."""
    datasets = [d for d in DATASET_TITLES if any(k[1] == d for k in summary)]
    datasets += sorted({k[1] for k in summary} - set(datasets))
    presets = list(dict.fromkeys(k[0] for k in summary))
    head = "| method | " + " | ".join(f"{DATASET_TITLES.get(d, d)} UAR | {DATASET_TITLES.get(d, d)} WAR" for d in datasets)
    lines = [head + " | model selection |", "|---|" + "---|---|" * len(datasets) + "---|"]
    for preset in presets:
        row = [f"{preset} (ours)"]
        for d in datasets:
            s = summary.get((preset, d))
            if s is None:
                row += ["-", "-"]
                continue
            n = len(s["folds"])
            note = f" ({n} folds)" if n > 1 else ""
            row += [_cell(s["uar"], n) + note, _cell(s["war"], n)]
        lines.append("| " + " | ".join(row + [_selection_cell(summary, preset, datasets)]) + " |")
        if preset in PAPER_RESULTS and not any(summary.get((preset, d), {}).get("zero_shot") for d in datasets):
            paper = [f"{preset} (paper)"]
            for d in datasets:
                fig = PAPER_RESULTS[preset].get(d)
                paper += [f"{fig[0]:.2f}", f"{fig[1]:.2f}"] if fig else ["-", "-"]
            lines.append("| " + " | ".join(paper + [PAPER_SELECTION]) + " |")
    out = ["UAR / WAR in %, mean ± std over folds.", "", *lines, ""]
    for (preset, d), s in summary.items():
        names = list(s["per_class"])
        selection = ", ".join(selection_title(p) for p in s["selection"])
        out += [f"Per-class recall (%), {preset} on {DATASET_TITLES.get(d, d)} (model selection: {selection}):",
                "", "| " + " | ".join(names) + " |", "|" + "---|" * len(names),
                "| " + " | ".join("-" if v is None else f"{v:.2f}" for v in s["per_class"].values()) + " |", ""]
    return "\n".join(out)


def csv_text(summary: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["preset", "dataset", "folds", "uar_mean", "uar_std", "war_mean", "war_std",
                     "paper_uar", "paper_war", "selection"])
    for (preset, d), s in summary.items():
        paper = PAPER_RESULTS.get(preset, {}).get(d, (None, None)) if not s["zero_shot"] else (None, None)
        writer.writerow([preset, d, len(s["folds"]), f"{s['uar'][0]:.4f}", f"{s['uar'][1]:.4f}",
                         f"{s['war'][0]:.4f}", f"{s['war'][1]:.4f}", paper[0], paper[1], ";".join(s["selection"])])
    return buffer.getvalue()
