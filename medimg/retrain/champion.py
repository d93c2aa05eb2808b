"""The champion/challenger rule of scheduled retraining, as a pure function of the two sets of figures."""

from __future__ import annotations

LOWER_IS_BETTER = frozenset({"brier", "ece"})


def _gain(metric: str, challenger: float, champion: float) -> float:
    """How much better the challenger is on ``metric`` (negative: worse), whatever its direction."""
    return champion - challenger if metric in LOWER_IS_BETTER else challenger - champion


def decide(
    key: str, challenger: dict, champion: dict | None, margin: float, tolerance: float
) -> dict:
    """Promote the challenger when there is no champion, or when it beats the champion's ``key``
    metric by at least ``margin`` and is worse on no other metric by more than ``tolerance``.

    Both dicts hold the figures of one test split (None where a metric is undefined there). Returns
    ``{"promote", "reason", "key", "gain", "worse"}``; an undefined key metric never promotes.
    """
    if champion is None:
        return {"promote": True, "reason": "no champion yet", "key": key, "gain": None, "worse": {}}
    new, old = challenger.get(key), champion.get(key)
    if new is None or old is None:
        return {
            "promote": False,
            "reason": f"{key} is undefined on this test split; keeping the champion",
            "key": key,
            "gain": None,
            "worse": {},
        }
    gain = _gain(key, new, old)
    worse = {
        m: _gain(m, v, champion[m])
        for m, v in challenger.items()
        if m != key
        and v is not None
        and champion.get(m) is not None
        and _gain(m, v, champion[m]) < -tolerance
    }
    if gain < margin - 1e-12:
        reason = f"{key} {new:.4f} against the champion's {old:.4f}: gain {gain:+.4f} is below the margin {margin}"
    elif worse:
        listed = ", ".join(f"{m} {d:+.4f}" for m, d in sorted(worse.items()))
        reason = f"{key} gains {gain:+.4f}, but worse than the tolerance {tolerance} on: {listed}"
    else:
        return {
            "promote": True,
            "key": key,
            "gain": gain,
            "worse": {},
            "reason": f"{key} {new:.4f} beats the champion's {old:.4f} by {gain:+.4f} (margin {margin}), "
            f"no other metric worse by more than {tolerance}",
        }
    return {"promote": False, "reason": reason, "key": key, "gain": gain, "worse": worse}
