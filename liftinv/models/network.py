r"""Lifted networks: a sequence of affine maps followed by proximal activations.

A network with input :math:`x_0` and layers :math:`l = 1..L` computes

.. math::
    v_l = A_l x_{l-1} + b_l + S_l x_{s_l},\qquad x_l = \sigma_l(v_l) = \mathrm{prox}_{\Psi_l}(v_l),

where the optional skip term :math:`S_l x_{s_l}` reads an earlier state
(:math:`s_l = 0` injects the network input, as unrolled algorithms do;
:math:`s_l = l - 2` gives a residual connection).  The output is :math:`x_L`.

The same object is an ordinary ``nn.Module`` (forward, backprop, ``state_dict``)
and describes its lifted problem: which states each layer reads
(:meth:`LiftedNetwork.sources`), which layers read a state
(:meth:`LiftedNetwork.readers`) and a colouring of the hidden states into groups
that share no penalty (:attr:`LiftedNetwork.aux_groups`, even/odd for a chain),
which the solvers update together.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..activations import ProxActivation, get_activation
from ..utils.checks import check_tensor
from .linear_maps import LinearMap


class Layer(nn.Module):
    r"""One lifted layer :math:`x = \sigma(A x_{prev} + b + \sum_j S_j x_{s_j})`.

    Parameters
    ----------
    linear: the map :math:`A` (with its bias) applied to the previous state.
    activation: a proximal activation, a name, or a torch activation module.
    skip: optional ``(source_index, LinearMap)`` or a list of them; a source index
        counts states from the network input ``0`` and must be at most ``l - 2``
        for layer ``l``.
    """

    #: True when the pre-activation is linear in the parameters (dense, conv), so
    #: weight blocks have Lipschitz constants computable by power iteration.
    params_linear = True

    def __init__(
        self,
        linear: LinearMap,
        activation: str | nn.Module = "relu",
        skip: tuple[int, LinearMap] | list[tuple[int, LinearMap]] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(linear, LinearMap):
            raise TypeError(f"Layer expects a liftinv LinearMap, got {type(linear).__name__}")
        self.linear = linear
        self.activation: ProxActivation = get_activation(activation)
        skips = [] if skip is None else [skip] if isinstance(skip[0], int) else list(skip)
        self.skip_from: list[int] = [int(i) for i, _ in skips]
        self.skips = nn.ModuleList([m for _, m in skips])

    def forward(self, x_prev: torch.Tensor, *x_skips: torch.Tensor) -> torch.Tensor:
        """The pre-activation :math:`v` (the activation is applied by the network)."""
        v = self.linear(x_prev)
        for amap, x in zip(self.skips, x_skips):
            v = v + amap(x)
        return v


class LiftedNetwork(nn.Module):
    """A feed-forward network of :class:`Layer` objects with a fixed input shape.

    ``in_shape`` is the per-sample input shape, e.g. ``(784,)`` or ``(1, 16, 16)``.
    """

    def __init__(self, layers: Sequence[Layer], in_shape: Sequence[int]) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ValueError("A network needs at least one layer")
        self.layers = nn.ModuleList(layers)
        # plain lists for the hot paths (sweeps, forward passes): nn.Module's attribute lookup and
        # ModuleList indexing cost microseconds per call, tens of calls per layer and step
        self._layer_list: list[Layer] = list(self.layers)
        self._activation_list: list[ProxActivation] = [layer.activation for layer in self._layer_list]
        self.in_shape = tuple(int(s) for s in in_shape)
        shapes = [self.in_shape]
        for li, layer in enumerate(self.layers, start=1):
            out = layer.linear.out_shape(shapes[li - 1])
            repeated = sorted({s for s in layer.skip_from if list(layer.skip_from).count(s) > 1})
            if repeated:  # one map per (reader, state): the adjoints and step sizes are keyed so
                raise ValueError(f"Layer {li}: several skips read state {repeated[0]}; sum their maps into one "
                                 "skip (liftinv.models.composite_maps.SumMap([A, B]))")
            for s, amap in zip(layer.skip_from, layer.skips):
                if not 0 <= s <= li - 2:
                    raise ValueError(f"Layer {li}: skip source {s} must be in [0, {li - 2}]")
                skip_out = amap.out_shape(shapes[s])
                if tuple(skip_out) != tuple(out):
                    raise ValueError(
                        f"Layer {li}: skip output {tuple(skip_out)} does not match {tuple(out)}"
                    )
            shapes.append(tuple(out))
        #: per-sample shapes of x_0 .. x_L
        self.state_shapes: list[tuple[int, ...]] = shapes
        self._sources = [((li - 1, layer.linear), *zip(layer.skip_from, layer.skips))
                         for li, layer in enumerate(self._layer_list, start=1)]
        self._readers = {m: [] for m in range(len(shapes))}
        self._maps: dict[tuple[int, int], LinearMap] = {}  # (reader r, state m) -> M_{r,m}
        for li in range(1, self.depth + 1):
            for m, amap in self.sources(li):
                self._readers[m].append((li, amap))
                self._maps[(li, m)] = amap
        self.aux_groups: list[list[int]] = self._colour_hidden_states()
        #: layers (1-based) with parameters whose pre-activation is the plain sum of their maps, each
        #: of which gives its parameter gradients directly (LinearMap.param_grads): the lifted trainers
        #: build no autograd graph for them (none where a subclass computes pre-activations its own way)
        plain = type(self).preactivation is LiftedNetwork.preactivation
        self.explicit_layers: frozenset[int] = frozenset(
            li for li, layer in enumerate(self._layer_list, start=1)
            if plain and type(layer).forward is Layer.forward and any(True for _ in layer.parameters())
            and all(amap.explicit_grads for _, amap in self.sources(li)))

    # -- structure ------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of layers :math:`L`."""
        return len(self._layer_list)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.state_shapes[-1]

    def layer(self, li: int) -> Layer:
        """Layer ``li`` (1-based: layer :math:`l` of the maths)."""
        return self._layer_list[li - 1]

    def activation(self, li: int) -> ProxActivation:
        return self._activation_list[li - 1]

    def sources(self, li: int) -> tuple[tuple[int, LinearMap], ...]:
        """``((state index, map), ...)`` read by layer ``li``, its main map first."""
        return self._sources[li - 1]

    def readers(self, m: int) -> list[tuple[int, LinearMap]]:
        """``[(layer index, map)]`` of the layers whose pre-activation reads state ``m``."""
        return self._readers[m]

    def _colour_hidden_states(self) -> list[list[int]]:
        """Greedy colouring of x_1..x_{L-1}: two states touching one penalty differ in colour."""
        hidden = range(1, self.depth)
        neighbours = {m: set() for m in hidden}
        for li in range(1, self.depth + 1):
            members = [m for m, _ in self.sources(li)] + [li]
            members = [m for m in members if 1 <= m <= self.depth - 1]
            for a in members:
                neighbours[a].update(b for b in members if b != a)
        colour: dict[int, int] = {}
        for m in hidden:
            taken = {colour[n] for n in neighbours[m] if n in colour}
            colour[m] = next(c for c in range(len(taken) + 1) if c not in taken)
        n_col = max(colour.values(), default=-1) + 1
        return [[m for m in hidden if colour[m] == c] for c in range(n_col)]

    def refresh(self, n_iter: int = 1) -> None:
        """Hook run by every trainer after each weight update (e.g. to recompute step
        sizes that depend on the weights, as unrolled networks do); nothing here."""

    def warm_starts(self) -> dict[str, torch.Tensor]:
        """The warm starts of the power iterations behind :meth:`refresh` (``_vec`` of the
        modules that keep one, by module name).  A checkpoint keeps them: loading weights drops
        them (they belong to the weights of before), and a resumed run that got them back
        refreshes its step sizes as the uninterrupted run would have."""
        return {name: m._vec.detach().clone() for name, m in self.named_modules()
                if isinstance(getattr(m, "_vec", None), torch.Tensor)}

    def load_warm_starts(self, vectors: dict) -> bool:
        """Put back :meth:`warm_starts` saved with these weights; ``False`` (nothing changed)
        unless they name exactly the modules that keep one, with tensors of their weights' kind."""
        modules = {name: m for name, m in self.named_modules() if hasattr(m, "_vec")}
        if not isinstance(vectors, dict) or set(vectors) != set(modules) or not all(
                isinstance(v, torch.Tensor) for v in vectors.values()):
            return False
        for name, vec in vectors.items():
            like = next(modules[name].parameters(), None)
            modules[name]._vec = vec.to(like) if like is not None else vec
        return True

    # -- evaluation -------------------------------------------------------------------
    def preactivation(self, li: int, states: Sequence[torch.Tensor]) -> torch.Tensor:
        r""":math:`v_l` from the states list ``[x_0, x_1, ...]``."""
        layer = self.layer(li)
        return layer(states[li - 1], *(states[s] for s in layer.skip_from))

    def preactivations(self, ls: Sequence[int], states: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        r""":math:`[v_l]_{l\in ls}` of layers evaluated together (the readers of one colour
        group of an auxiliary sweep).  One by one here; networks whose layers share
        shapes override it to batch them (:class:`~liftinv.models.DFBPNN`)."""
        return [self.preactivation(li, states) for li in ls]

    def adjoints(self, terms: Sequence[tuple[int, int, torch.Tensor]]) -> list[torch.Tensor]:
        r""":math:`M_{r,m}^\top g` for each ``(r, m, g)``: the map by which layer ``r`` reads
        state ``m``, adjoint applied to ``g``.  One by one here; see :meth:`preactivations`."""
        return [self._maps[(r, m)].A_adjoint(g, self.state_shapes[m]) for r, m, g in terms]

    def check_input(self, x: torch.Tensor, name: str = "x") -> None:
        check_tensor(x, name, shape=self.in_shape, like=next(self.parameters(), None))

    def forward_states(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """States ``[x_0 .. x_{L-1}]`` and pre-activations ``[v_1 .. v_L]`` of a forward pass."""
        states, preacts = [x], []
        for li in range(1, self.depth + 1):
            v = self.preactivation(li, states)
            preacts.append(v)
            if li < self.depth:
                states.append(self.activation(li).sigma(v))
        return states, preacts

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The last pre-activation :math:`v_L` (logits for a softmax classifier)."""
        self.check_input(x)
        return self.forward_states(x)[1][-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network output :math:`x_L = \\sigma_L(v_L)`."""
        return self.activation(self.depth)(self.logits(x))
