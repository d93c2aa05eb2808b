"""Training curves as a PNG: losses and the early-stopping metric per epoch."""

from __future__ import annotations

from pathlib import Path

from medimg.io import atomic


def plot_curves(history: list[dict], metric: str, target: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines and CI
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] + 1 for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    left.plot(epochs, [r["val_loss"] for r in history], marker="o", label="validation")
    left.set(xlabel="epoch", ylabel="loss", title="Loss")
    left.legend()
    values = [r.get(f"val_{metric}") for r in history]
    right.plot(
        epochs,
        [v if v is not None else float("nan") for v in values],
        marker="o",
        color="tab:green",
    )
    right.set(xlabel="epoch", ylabel=metric, title=f"Validation {metric}")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    try:
        return atomic.write_with(
            target, lambda tmp: fig.savefig(tmp, format="png", dpi=110), suffix=".png"
        )
    finally:
        plt.close(fig)
