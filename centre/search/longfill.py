"""A long question's three answers keep what its words name best (round 11, docs/search.md).

Once a long question is answered, its first answer stays and places 2–3 are filled by the one
score, then reordered by the runner-up fusion (`model.fused_runners`). The one score blends the
asking sentence's phrase score, the whole question's (its story), the text index and e5, so the
procedure the *request* names best and the one the *story* names best can both fall to the fourth
place or lower while blends of the two fill places 2–3 (a neighbour's wall over the boundary: the
story names the land dispute, the asking sentence "tôi cần làm gì để bảo vệ quyền lợi" nothing).
`named_in_three` puts each of them in the first three when it is not there yet: in the last place
that is not itself one of them, when it scores at least `LONG_FILL_SHARE` of the runner-up it
displaces (a pick far below it is no better guess). Only what else is offered changes: the first
answer, and whether the question is answered, never do; a candidate below the runners-up floor is
never added. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from centre.search.weights import LONG_FILL_SHARE, RUNNERS

T = TypeVar("T")


def _best(ranked: Sequence[T], value: Callable[[T], float], floor: float, score: Callable[[T], float]) -> T | None:
    """The candidate with the highest `value` (> 0) among those scoring at least `floor`; the
    first in `ranked` on ties."""
    best = None
    for c in ranked:
        if score(c) >= floor and value(c) > 0 and (best is None or value(c) > value(best)):
            best = c
    return best


def named_in_three(ranked: list[T], accepted: int, floor: float, values: Sequence[Callable[[T], float]],
                   score: Callable[[T], float], shown: int = RUNNERS,
                   share: float = LONG_FILL_SHARE) -> tuple[list[T], int]:
    """`ranked` with, for each of `values` in turn (a candidate's phrase score of the request,
    of the whole question), the candidate it scores highest among those scoring at least `floor`
    placed in the first `shown` when it is not there: appended while fewer than `shown` are
    answers, else in place of the last answer (after the first) that is no such pick, when it
    scores at least `share` of that answer. Returns the new order and the new number of answers.
    Nothing moves when nothing is answered."""
    if not accepted or not ranked:
        return ranked, accepted
    top = list(ranked[: min(shown, accepted)])
    picks: list[T] = []
    for value in values:
        p = _best(ranked, value, floor, score)
        if p is not None and all(p is not q for q in picks):
            picks.append(p)
    for p in picks:
        if any(p is q for q in top):
            continue
        if len(top) < shown:
            top.append(p)
            continue
        for i in range(len(top) - 1, 0, -1):
            if all(top[i] is not q for q in picks):
                if score(p) >= share * score(top[i]):
                    top = top[:i] + top[i + 1:] + [p]
                break
    rest = [c for c in ranked if all(c is not q for q in top)]
    return top + rest, max(accepted, len(top))
