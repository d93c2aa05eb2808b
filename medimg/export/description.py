"""The text an MLflow model version carries: what a reader of the registry page needs to judge the
model without opening a file (its key figure with the interval, the operating point, which
variants passed the gate, what data and training settings made it) and where its model card is."""

from __future__ import annotations


def _figure(headline: dict, name: str) -> str:
    value = headline.get(name)
    if value is None:
        return "n/a"
    low, high = headline.get(f"{name}_low"), headline.get(f"{name}_high")
    interval = f" (95% CI {low:.3f}-{high:.3f})" if low is not None and high is not None else ""
    return f"{value:.3f}{interval}"


def version_description(
    model: str,
    task: str,
    headline: dict,
    key: str,
    quality: dict,
    fingerprints: dict[str, str],
    card_link: str | None,
    temperature: float | None = None,
) -> str:
    """Markdown for the registry page. ``headline``: reports/metrics.json; ``key``: the key metric
    as the headline names it; ``quality``: the export report's per-variant verdicts;
    ``fingerprints``: data and training-params digests."""
    lines = [
        f"**{model}**, {task}. On the held-out test split ({headline.get('n', '?')} items): "
        f"{key} {_figure(headline, key)}.",
    ]
    if headline.get("threshold") is not None:
        extra = ", ".join(
            f"{name} {headline[name]:.3f}"
            for name in ("sensitivity", "specificity")
            if headline.get(name) is not None
        )
        lines.append(
            f"Operating threshold {headline['threshold']:.3f} (chosen on val){': ' + extra if extra else ''}."
        )
    if temperature is not None and temperature != 1.0:
        lines.append(
            f"Probabilities calibrated by temperature {temperature:.3f}; ECE "
            f"{_figure(headline, 'ece')}."
        )
    passed = [name for name, q in quality.items() if q["deployable"]]
    failed = [name for name, q in quality.items() if not q["deployable"]]
    lines.append(
        "Deployable variants: "
        + (", ".join(f"`{n}`" for n in passed) or "none")
        + (f"; not deployable: {', '.join(f'`{n}`' for n in failed)}" if failed else "")
        + "."
    )
    lines.append(
        "Data fingerprint `"
        + fingerprints["data"]
        + "`, training params digest `"
        + fingerprints["training"]
        + "`."
    )
    if card_link:
        lines.append(f"Model card: [{card_link}]({card_link}) (logged with this version's run).")
    return "\n\n".join(lines)
