r"""The affine expressions of the lifted states that :func:`~liftinv.models.from_module` keeps for
every node of a traced graph: :class:`_Expr`, :math:`e = \sum_m M_m x_m` (one map per state it
reads), and :func:`_compose`, the composition of maps that drops identities and merges reshapes,
scalings and elementwise affine maps into one."""

from __future__ import annotations

import torch

from .composite_maps import CatMap, ChainMap, SumMap
from .linear_maps import Dense, ElementwiseAffine, IdentityMap, LinearMap, Reshape, Scale, ZeroMap


def _factors(amap: LinearMap) -> list[LinearMap]:
    return list(amap.maps) if isinstance(amap, ChainMap) else [amap]


def _diagonal(amap: Scale | ElementwiseAffine) -> tuple:
    """``(scale, shift)`` of a diagonal map (numbers or tensors, ``None`` for 1 and 0)."""
    return (amap.c, None) if isinstance(amap, Scale) else (amap.scale, amap.shift)


def _merge_diagonal(inner: Scale | ElementwiseAffine, outer: Scale | ElementwiseAffine) -> LinearMap:
    """``outer o inner`` for two diagonal maps: :math:`s_2(s_1 x + t_1) + t_2` as one map."""
    if isinstance(inner, Scale) and isinstance(outer, Scale):
        return Scale(inner.c * outer.c)
    (s1, t1), (s2, t2) = _diagonal(inner), _diagonal(outer)
    scale = s1 if s2 is None else s2 if s1 is None else s1 * s2
    shift = t1 if t1 is None or s2 is None else t1 * s2
    shift = t2 if shift is None else shift if t2 is None else shift + t2
    ref = next(c for c in (scale, shift) if isinstance(c, torch.Tensor))  # an ElementwiseAffine has one
    if isinstance(scale, float):
        scale = torch.tensor(scale, dtype=ref.dtype, device=ref.device)
    return ElementwiseAffine(scale, shift)


def _compose(outer: LinearMap, inner: LinearMap) -> LinearMap:
    """``outer o inner``, simplified: identities dropped, reshapes merged, a reshape before a
    dense map dropped (it flattens), scalings and elementwise affine maps multiplied into one."""
    out: list[LinearMap] = []
    for amap in _factors(inner) + _factors(outer):
        prev = out[-1] if out else None
        if isinstance(amap, IdentityMap):
            continue
        if isinstance(prev, Reshape) and isinstance(amap, (Reshape, Dense)):
            out[-1] = amap
        elif isinstance(prev, (Scale, ElementwiseAffine)) and isinstance(amap, (Scale, ElementwiseAffine)):
            out[-1] = _merge_diagonal(prev, amap)
        else:
            out.append(amap)
    if not out:
        return IdentityMap()
    return out[0] if len(out) == 1 else ChainMap(out)


def _has_parameters(amap: LinearMap) -> bool:
    return next(amap.parameters(), None) is not None


class _Expr:
    """:math:`\\sum_m M_m x_m`: ``terms`` maps a state index to the map reading it."""

    def __init__(self, terms: dict[int, LinearMap]) -> None:
        self.terms = dict(terms)

    def apply(self, amap: LinearMap) -> _Expr:
        """``amap`` after the expression; over several terms only for a bias-free map (the
        converter closes a sum into one state before a map with parameters)."""
        return _Expr({m: _compose(amap, inner) for m, inner in self.terms.items()})

    def __add__(self, other: _Expr) -> _Expr:
        terms = dict(self.terms)
        for m, amap in other.terms.items():
            if m in terms:
                parts = [p for t in (terms[m], amap) for p in (t.maps if isinstance(t, SumMap) else [t])]
                terms[m] = SumMap(parts)
            else:
                terms[m] = amap
        return _Expr(terms)

    @staticmethod
    def cat(parts: list[_Expr], shapes: list[tuple[int, ...]], dim: int) -> _Expr:
        """The parts (of per-sample output shapes ``shapes``) concatenated along ``dim``."""
        states = sorted({m for e in parts for m in e.terms})
        return _Expr({m: CatMap([e.terms[m] if m in e.terms else ZeroMap(s) for e, s in zip(parts, shapes)], dim)
                      for m in states})
