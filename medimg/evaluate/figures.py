"""PNG figures of the evaluation: ROC with its 95% band, confusion matrix, calibration curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medimg.io import atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines and CI
    import matplotlib.pyplot as plt

    return plt


def _save(fig, target: Path) -> Path:
    plt = _pyplot()
    try:
        fig.tight_layout()
        return atomic.write_with(
            target, lambda tmp: fig.savefig(tmp, format="png", dpi=110), suffix=".png"
        )
    finally:
        plt.close(fig)


def roc_figure(
    points: list[dict], band: list[dict], auc: dict, operating: dict | None, target: Path
) -> Path:
    """``auc``: {'value', 'low', 'high'}; ``operating``: the chosen point's sensitivity/specificity."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    if band:
        ax.fill_between(
            [b["fpr"] for b in band],
            [b["tpr_low"] for b in band],
            [b["tpr_high"] for b in band],
            color="tab:blue",
            alpha=0.2,
            label="95% band (patient bootstrap)",
        )
    ax.plot(
        [p["fpr"] for p in points],
        [p["tpr"] for p in points],
        color="tab:blue",
        label=f"AUC {auc['value']:.3f} (95% CI {auc['low']:.3f}-{auc['high']:.3f})",
    )
    if (
        operating
        and operating.get("sensitivity") is not None
        and operating.get("specificity") is not None
    ):
        ax.plot(
            1 - operating["specificity"],
            operating["sensitivity"],
            "o",
            color="tab:red",
            label=f"operating point (threshold {operating['threshold']:.3f})",
        )
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set(
        xlabel="1 - specificity (false positive rate)",
        ylabel="sensitivity",
        title="ROC",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower right", fontsize=7)
    return _save(fig, target)


def confusion_figure(matrix: list[list[int]], class_names: list[str], target: Path) -> Path:
    plt = _pyplot()
    counts = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(class_names), 1.0 + 0.9 * len(class_names)))
    ax.imshow(counts, cmap="Blues")
    for (i, j), value in np.ndenumerate(counts):
        ax.text(
            j,
            i,
            str(value),
            ha="center",
            va="center",
            color="white" if value > counts.max() / 2 else "black",
        )
    ax.set_xticks(range(len(class_names)), class_names, rotation=30)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set(xlabel="predicted", ylabel="actual", title="Confusion matrix")
    return _save(fig, target)


def calibration_figure(
    bins: list[dict],
    brier: float | None,
    ece: float | None,
    target: Path,
    before: list[dict] | None = None,
    ece_before: float | None = None,
) -> Path:
    """A reliability diagram; with ``before``, the uncalibrated curve beside the calibrated one."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="perfect calibration")
    curves = [(bins, "tab:green", "calibrated" if before is not None else "bins")]
    if before is not None:
        curves.insert(0, (before, "tab:orange", "before calibration"))
    for cells, color, name in curves:
        total = max(sum(c["count"] for c in cells), 1)
        x = [b["mean_predicted"] for b in cells]
        y = [b["observed_rate"] for b in cells]
        ax.plot(x, y, color=color)
        ax.scatter(x, y, s=[20 + 200 * b["count"] / total for b in cells], color=color, label=name)
    figures = (("Brier", brier), ("ECE", ece), ("ECE before", ece_before))
    label = ", ".join(f"{n} {v:.3f}" for n, v in figures if v is not None)
    ax.set(
        xlabel="predicted probability",
        ylabel="observed rate",
        title=f"Calibration ({label})",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.set_title(ax.get_title(), fontsize=8)
    ax.legend(loc="lower right", fontsize=7, title="point size: share of cases", title_fontsize=6)
    return _save(fig, target)


def overlay_figure(image: np.ndarray, heat: np.ndarray, title: str, target: Path) -> Path:
    """A grey image beside the same image with a heat map (Grad-CAM or a mask) over it."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 3.4))
    for ax in (left, right):
        ax.imshow(image, cmap="gray")
        ax.axis("off")
    right.imshow(np.ma.masked_less(heat, 0.05), cmap="jet", alpha=0.45, vmin=0, vmax=1)
    fig.suptitle(title, fontsize=9)
    return _save(fig, target)


def segmentation_figure(
    image: np.ndarray, truth: np.ndarray, predicted: np.ndarray, title: str, target: Path
) -> Path:
    """Image, reference mask and predicted mask on one slice, side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.2))
    for ax, overlay, name, colour in (
        (axes[0], None, "image", None),
        (axes[1], truth, "reference", "Greens"),
        (axes[2], predicted, "prediction", "Reds"),
    ):
        ax.imshow(image, cmap="gray")
        if overlay is not None:
            ax.imshow(
                np.ma.masked_equal(overlay, 0),
                cmap=colour,
                alpha=0.55,
                vmin=0,
                vmax=max(overlay.max(), 1),
            )
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return _save(fig, target)
