"""Tuning a weight on a grid without letting the grid's end decide.

A regularisation weight tuned on a fixed grid is only tuned when the best value is inside the
grid: at an end, the method may want more (or less) than the grid offers, and a comparison of
methods then measures the grid.  :func:`search_grid` scores the grid, and while the best value is
the largest (or smallest, above 0) one scored, scores one more value a factor ``step`` further
out, at most ``extend`` times.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence


def search_grid(score: Callable[[float], float], grid: Sequence[float], *, step: float = 3.0,
                extend: int = 3) -> tuple[float, dict[float, float]]:
    """The value of ``grid`` (extended past an end while the best is there) with the highest
    ``score``, and every score, keyed by value in the order scored.

    >>> best, scores = search_grid(lambda a: -(a - 10.0) ** 2, [0.1, 1.0])
    >>> best, list(scores)
    (9.0, [0.1, 1.0, 3.0, 9.0, 27.0])
    >>> search_grid(lambda a: -(a - 10.0) ** 2, [0.1, 1.0], extend=0)[0]
    1.0

    A grid tries poor values on purpose: the ``RuntimeWarning`` of a solver that does not
    converge at one of them (an inversion whose estimate does not explain its features) is
    silenced while it is scored.
    """
    if not grid:
        raise ValueError("grid must hold at least one value")
    if step <= 1.0:
        raise ValueError(f"step must be > 1, got {step}")
    def quiet(a: float) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(score(a))

    scores = {float(a): quiet(float(a)) for a in grid}
    for _ in range(extend):
        best = max(scores, key=scores.get)
        if best == max(scores):
            nxt = best * step if best > 0 else 1.0
        elif best == min(scores) and best > 0:
            nxt = best / step
        else:
            break
        nxt = float(f"{nxt:.6g}")  # 0.9, not 0.8999999999999999
        if nxt in scores:
            break
        scores[nxt] = quiet(nxt)
    return max(scores, key=scores.get), scores
