"""The figures of `finecliper report --figures`, after the paper's: per-class recall over folds, the fixed
weight w against the adaptive one (its weighting figure), tunable parameters against WAR with its Table 1
peers (its efficiency figure). Each is drawn only when the runs given can fill it."""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np

from finecliper.config.presets import PAPER_RESULTS, PAPER_TUNABLE_M
from finecliper.figures.peers import DFEW_PEERS, SOURCE
from finecliper.figures.runs import Run
from finecliper.plotting import pyplot, save
from finecliper.training.report import DATASET_TITLES


def _groups(runs: list[Run], key) -> dict:
    groups: dict = defaultdict(list)
    for run in runs:
        groups[key(run)].append(run)
    return groups


def _title(dataset: str) -> str:
    return DATASET_TITLES.get(dataset, dataset)


def per_class_recall(runs: list[Run], path: Path) -> Path:
    """Bars: mean recall per class over a group's folds (± std); dots: the folds."""
    plt = pyplot()
    groups = _groups(runs, lambda r: (r.results["preset"], r.results["dataset"]))
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 3.2 * len(groups)), dpi=100, squeeze=False)
    for ax, ((preset, dataset), members) in zip(axes[:, 0], groups.items(), strict=True):
        names = members[0].results["test"]["class_names"]
        recall = np.array([[np.nan if (v := r.results["test"]["per_class_recall"].get(n)) is None else 100 * v
                            for n in names] for r in members])  # (folds, classes)
        x = np.arange(len(names))
        ax.bar(x, np.nanmean(recall, axis=0), yerr=np.nanstd(recall, axis=0), color="tab:blue", alpha=0.7,
               capsize=3)
        for fold in recall:
            ax.plot(x, fold, "k.", markersize=4)
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_ylim(0, 100)
        ax.set_ylabel("recall (%)")
        ax.set_title(f"{preset} on {_title(dataset)}: per-class recall over {len(members)} run(s) "
                     "(bars: mean ± std, dots: runs)", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def weighting(runs: list[Run], path: Path) -> Path | None:
    """UAR and WAR against a fixed weight w of the video features, the adaptive w as dashed lines; None when
    no group of runs with descriptions has more than one setting of w."""
    groups = {k: v for k, v in _groups([r for r in runs if r.descriptions],
                                       lambda r: (r.results["preset"], r.results["dataset"])).items()
              if len({r.video_weight for r in v}) > 1}
    if not groups:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 3.8), dpi=100, squeeze=False)
    for ax, ((preset, dataset), members) in zip(axes[0], groups.items(), strict=True):
        by_w = _groups(members, lambda r: r.video_weight)
        fixed = sorted(w for w in by_w if w is not None)
        for metric, colour in (("uar", "tab:blue"), ("war", "tab:orange")):
            ax.plot(fixed, [_mean(by_w[w], metric) for w in fixed], "o-", color=colour,
                    label=f"{metric.upper()}, fixed w")
            if None in by_w:
                ax.axhline(_mean(by_w[None], metric), color=colour, linestyle="--",
                           label=f"{metric.upper()}, adaptive w")
        ax.set_xlabel("fixed weight w on the video features")
        ax.set_ylabel("%")
        ax.set_title(f"{preset} on {_title(dataset)}: fixed vs adaptive w", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def _mean(runs: list[Run], metric: str) -> float:
    """A metric's mean over runs, in %."""
    return 100 * float(np.mean([r.results["test"][metric] for r in runs]))


def efficiency(runs: list[Run], path: Path) -> Path:
    """WAR against tunable parameters (log scale): our runs, the paper's presets, and on DFEW the peers."""
    plt = pyplot()
    datasets = list(dict.fromkeys(r.results["dataset"] for r in runs))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.5), dpi=100, squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for preset, members in _groups([r for r in runs if r.results["dataset"] == dataset],
                                       lambda r: r.results["preset"]).items():
            x = np.mean([r.tunable for r in members]) / 1e6
            y = 100 * np.mean([r.results["test"]["war"] for r in members])
            ax.plot(x, y, "o", color="tab:blue")
            ax.annotate(f"{preset} (ours)", (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
        for preset, results in PAPER_RESULTS.items():
            if dataset in results and PAPER_TUNABLE_M.get(preset):
                ax.plot(PAPER_TUNABLE_M[preset], results[dataset][1], "s", mfc="none", color="tab:green")
                ax.annotate(f"{preset} (paper)", (PAPER_TUNABLE_M[preset], results[dataset][1]), fontsize=7,
                            xytext=(4, -10), textcoords="offset points", color="tab:green")
        missing = []
        for peer in DFEW_PEERS if dataset == "dfew" else ():
            if peer.tunable_m is None:
                missing.append(peer.name)
                continue
            ax.plot(peer.tunable_m, peer.war, "^", color="tab:red")
            ax.annotate(peer.name, (peer.tunable_m, peer.war), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("tunable parameters (M, log scale)")
        ax.set_ylabel("WAR (%)")
        note = f"peers: {SOURCE}" + (f"; no count stated for {', '.join(missing)}" if missing else "")
        ax.set_title(f"{_title(dataset)}: tunable parameters vs WAR\n" + "\n".join(textwrap.wrap(note, 95)), fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def write_figures(runs: list[Run], out: str | Path) -> list[Path]:
    """Every figure the runs (`figures.runs.read_runs`) can fill, as PNGs in `out`."""
    out = Path(out)
    written = [per_class_recall(runs, out / "per_class_recall.png"), weighting(runs, out / "weighting.png"),
               efficiency(runs, out / "efficiency.png")]
    return [p for p in written if p is not None]
