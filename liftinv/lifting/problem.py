r"""The lifted training problem of a network: objective, block gradients, block steps.

For a :class:`~liftinv.models.LiftedNetwork` with layers :math:`l = 1..L`, a batch
:math:`(x_0^i, y^i)_{i=1}^s`, auxiliaries :math:`X = \{x_l^i\}_{l<L}` and a penalty
:math:`P` (lifted Bregman by default),

.. math::
    \mathcal E(\Theta, X) = \frac1s\sum_i\Big[\sum_{l=1}^{L-1}\lambda_l P_l(x_l^i, v_l^i)
    + B_{\sigma_L}(y^i, v_L^i)\Big],\qquad v_l = A_l x_{l-1} + b_l\ (+ S_l x_{s_l}).

The last term is the network loss, so :math:`\mathcal E` equals the loss at a
forward-propagated :math:`X`.

**Auxiliary block** :math:`x_m` (all samples at once).  Its own term
:math:`\lambda_m P_m(x_m, v_m)` is handled by an exact prox; the terms of the layers
:math:`r` that read :math:`x_m` through a map :math:`M_{r,m}` are smooth with gradient
:math:`g = \sum_r \lambda_r M_{r,m}^\top \nabla_v P_r(x_r, v_r)` and Lipschitz constant
:math:`L_m = \sum_r \lambda_r \kappa_r \|M_{r,m}\|^2`.  The step is

.. math::
    x_m \leftarrow \mathrm{prox}_{\mu\lambda_m P_m(\cdot, v_m)}(x_m - \mu g),\qquad \mu = 1/L_m ,

which for lifted Bregman is :math:`\mathrm{prox}_{\mu\lambda_m\phi_m}(x_m - \mu g + \mu\lambda_m v_m)`.
States of one colour group share no penalty, so a group is updated from one
snapshot (and, with ``batch_layers``, in one batched call across its layers);
pre-activations are cached and recomputed only when a state they read has changed
(one pass per sweep).

**Weight block** :math:`\theta_l`: :math:`\nabla_{\theta_l}\mathcal E` is the autograd
gradient of :math:`\frac1s\sum_i\lambda_l\langle \mathrm{sg}(\nabla_v P_l), v_l(\theta_l)\rangle`,
so no derivative of :math:`\sigma` is ever taken for Bregman penalties.  Its
Lipschitz constant is :math:`\lambda_l\kappa_l\|J_l\|^2/s` with :math:`J_l` the
(linear) map :math:`\theta_l\mapsto v_l`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.func import functional_call

from ..activations.base import ProxActivation
from ..distributed import all_reduce_sum_
from ..models.linear_maps import op_norms_sq
from ..models.network import LiftedNetwork
from ..models.power import power_iteration
from ..utils.checks import check_tensor
from .penalties import LiftedBregman, Penalty, get_penalty


class LiftedProblem:
    """The lifted objective of ``network`` under ``penalty`` with layer weights ``lam``.

    Parameters
    ----------
    network: the network whose weights are trained.
    penalty: ``'bregman'`` (default), ``'mac'``, ``'fenchel'`` or a :class:`Penalty`.
    lam: penalty weight :math:`\\lambda_l` of the hidden layers, a scalar or one per
        hidden layer (the loss has weight 1).
    """

    def __init__(
        self,
        network: LiftedNetwork,
        penalty: str | Penalty = "bregman",
        lam: float | Sequence[float] = 1.0,
    ) -> None:
        if not isinstance(network, LiftedNetwork):
            raise TypeError(f"LiftedProblem needs a LiftedNetwork, got {type(network).__name__}")
        self.network = network
        self.penalty = get_penalty(penalty)
        self.loss_penalty = LiftedBregman()
        n_hidden = network.depth - 1
        lam = self._lam_list(lam, n_hidden)
        if len(lam) != n_hidden or not all(0 < t < float("inf") for t in lam):
            raise ValueError(f"lam must be positive and finite, one per hidden layer ({n_hidden}); got {lam}")
        self.lam = lam
        for li in range(1, network.depth):
            self.penalty.check(network.activation(li), li)

    @staticmethod
    def _lam_list(lam, n_hidden: int) -> list[float]:
        """``lam`` as one float per hidden layer: a number (numpy and 0-d torch scalars included) for
        all, or a sequence of numbers; anything else (a string, say) is refused by name."""
        import numbers

        def number(t):
            if isinstance(t, torch.Tensor) and t.numel() == 1:
                t = t.item()
            if isinstance(t, bool) or not isinstance(t, numbers.Real):
                raise ValueError(f"lam must be a number or one number per hidden layer ({n_hidden}); "
                                 f"got {lam!r}")
            return float(t)

        if isinstance(lam, (numbers.Real, torch.Tensor)) and not (isinstance(lam, torch.Tensor) and lam.numel() > 1):
            return [number(lam)] * n_hidden
        if isinstance(lam, (str, bytes)) or not hasattr(lam, "__iter__"):
            number(lam)  # raises
        return [number(t) for t in lam]

    # -- per-layer data ----------------------------------------------------------------
    @property
    def depth(self) -> int:
        return self.network.depth

    def penalty_of(self, li: int) -> Penalty:
        return self.loss_penalty if li == self.depth else self.penalty

    def lam_of(self, li: int) -> float:
        return 1.0 if li == self.depth else self.lam[li - 1]

    def target(self, li: int, states: Sequence[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        return y if li == self.depth else states[li]

    def check_batch(self, x0: torch.Tensor, y: torch.Tensor) -> None:
        net = self.network
        like = next(net.parameters(), None)
        check_tensor(x0, "input x0", shape=net.in_shape, like=like)
        check_tensor(y, "target y", shape=net.out_shape, like=like)
        if x0.shape[0] != y.shape[0]:
            raise ValueError(f"x0 has {x0.shape[0]} samples but y has {y.shape[0]}")
        act = net.activation(self.depth)
        if type(act).in_domain is not ProxActivation.in_domain and not bool(act.in_domain(y).all()):
            raise ValueError(f"target y has values outside the range of the output activation {act}, where the "
                             "loss is infinite: every target must be a possible output (rows of probabilities "
                             "for softmax, values in [0, 1] for sigmoid, >= 0 for ReLU, ...)")

    # -- objective -------------------------------------------------------------------------
    def sample_losses(self, x0: torch.Tensor, y: torch.Tensor,
                      logits: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample network loss :math:`B_{\\sigma_L}(y^i, v_L^i)` and the network output
        (``logits``: :math:`v_L` of ``x0`` when a forward pass already has it)."""
        v = self.network.logits(x0) if logits is None else logits
        act = self.network.activation(self.depth)
        return self.loss_penalty.value(act, y, v), act(v)

    def loss(self, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean network loss :math:`\\frac1s\\sum_i B_{\\sigma_L}(y^i, v_L^i)` (differentiable)."""
        return self.sample_losses(x0, y)[0].mean()

    @torch.no_grad()
    def init_aux(self, x0: torch.Tensor) -> tuple[list[torch.Tensor], dict[int, torch.Tensor]]:
        """Auxiliaries from a forward pass, and the pre-activations as a cache."""
        states, preacts = self.network.forward_states(x0)
        return states, {li: v for li, v in enumerate(preacts, start=1)}

    def preact(self, li: int, states, cache: dict[int, torch.Tensor]) -> torch.Tensor:
        if li not in cache:
            cache[li] = self.network.preactivation(li, states)
        return cache[li]

    @torch.no_grad()
    def evaluate(self, states, y, cache: dict[int, torch.Tensor] | None = None) -> dict[str, float]:
        """Lifted objective, constraint violation :math:`\\frac1s\\sum\\|x_l - \\sigma(v_l)\\|^2`."""
        cache = {} if cache is None else cache
        net, lifted, viol = self.network, [], []
        for li in range(1, self.depth + 1):
            v, act, tgt = self.preact(li, states, cache), net.activation(li), self.target(li, states, y)
            term = self.penalty_of(li).value(act, tgt, v).sum()
            lifted.append(term if self.lam_of(li) == 1.0 else term.mul_(self.lam_of(li)))
            if li < self.depth:
                viol.append(torch.sub(tgt, act(v)).square_().sum())
        viol_sum = torch.stack(viol).sum() if viol else torch.zeros_like(lifted[0])  # (no hidden layer)
        sums = torch.stack([torch.stack(lifted).sum(), viol_sum])
        total, violation = (sums / y.shape[0]).tolist()  # the batch means, one synchronisation
        return {"lifted": total, "violation": violation}

    # -- auxiliary blocks -------------------------------------------------------------------
    @torch.no_grad()
    def map_norms(self, vecs: dict | None = None, exact: bool = False) -> dict[tuple[int, int], float]:
        """:math:`\\|M_{r,m}\\|^2` for every map reading a hidden state.

        One warm-started power iteration per map; ``vecs`` (keyed like the result)
        holds the warm starts and is updated in place.  The maps that can share the
        iteration's products (dense maps of one shape, warm: :func:`~liftinv.models.linear_maps.op_norms_sq`)
        take it together.  ``exact=True`` iterates to convergence instead.
        """
        net, norms, groups = self.network, {}, {}
        vecs = {} if vecs is None else vecs
        for r in range(2, self.depth + 1):
            for m, amap in net.sources(r):
                if m < 1:
                    continue
                if exact:
                    norms[(r, m)] = amap.exact_norm_sq(net.state_shapes[m])
                    continue
                key = amap.norm_batch_key(vecs.get((r, m)))
                norms[(r, m)] = None  # (filled below, in this order)
                groups.setdefault((r, m) if key is None else key, []).append(((r, m), amap))
        for group in groups.values():
            if len(group) == 1:  # nothing to share
                (r, m), amap = group[0]
                norms[(r, m)], vecs[(r, m)] = amap.op_norm_sq(net.state_shapes[m], vecs.get((r, m)))
                continue
            keys = [rm for rm, _ in group]
            for rm, (norm, vec) in zip(keys, op_norms_sq([amap for _, amap in group], [vecs[rm] for rm in keys])):
                norms[rm], vecs[rm] = norm, vec
        return norms

    def aux_order(self, order: str) -> list[list[int]]:
        """Groups of auxiliary blocks in update order.

        ``'even-odd'``: the colour groups (even and odd layers of a chain), each group
        updated from one snapshot, so its blocks are independent and parallel.
        ``'backward'``: one block at a time from the last hidden layer to the first
        (Gauss-Seidel, as the Fenchel lifted networks' code does): the loss signal
        crosses the whole network in one sweep instead of one layer per sweep.
        Both compute each pre-activation once per sweep.
        """
        if order == "even-odd":
            return self.network.aux_groups
        if order == "backward":
            return [[m] for m in range(self.depth - 1, 0, -1)]
        raise ValueError(f"order must be 'even-odd' or 'backward', got {order!r}")

    def unreached_layers(self, order: str, sweeps: int) -> list[int]:
        """The layers whose weight gradient is exactly 0 after ``sweeps`` auxiliary sweeps in
        ``order`` from a forward pass: at the forward pass every residual but the loss layer's is
        0, and a sweep moves a block only if a penalty touching it has a nonzero residual, so the
        loss signal goes down one colour group at a time ('even-odd': one or two layers per sweep;
        'backward': the whole network in one)."""
        net, depth, moved = self.network, self.depth, set()

        def live(r: int) -> bool:  # layer r's residual sigma(v_r) - x_r is nonzero
            return r == depth or r in moved or any(m in moved for m, _ in net.sources(r))

        for _ in range(sweeps):
            for group in self.aux_order(order):
                moved |= {m for m in group if live(m) or any(live(r) for r, _ in net.readers(m))}
        return [li for li in range(1, depth + 1) if not live(li)]

    @torch.no_grad()
    def aux_sweep(self, states, y, cache, norms, step_scale: float = 1.0, order: str = "even-odd",
                  batch_layers: bool = False) -> None:
        """One proximal-gradient step on every auxiliary block, group by group.

        ``states`` (a list) is updated in place and ``cache`` kept consistent.
        ``batch_layers=True`` updates the blocks of a colour group together: their
        pre-activations and adjoint products go to the network in one call
        (:meth:`LiftedNetwork.preactivations`, :meth:`LiftedNetwork.adjoints`), which
        networks with stackable layers batch; the result is the same up to rounding.
        """
        for group in self.aux_order(order):
            if batch_layers and len(group) > 1:
                self._update_blocks(group, states, y, cache, norms, step_scale)
            else:
                for m in group:
                    self._update_blocks([m], states, y, cache, norms, step_scale)

    def _update_blocks(self, blocks, states, y, cache, norms, step_scale: float) -> None:
        """The prox-gradient step of independent auxiliary blocks (see the module docstring)."""
        net = self.network
        terms = [(r, m) for m in blocks for r, _ in net.readers(m)]
        missing = sorted(({r for r, _ in terms} | set(blocks)) - cache.keys())
        if missing:
            cache.update(zip(missing, net.preactivations(missing, states)))
        residuals = [self.penalty_of(r).grad_v(net.activation(r), self.target(r, states, y), cache[r])
                     for r, _ in terms]
        products = net.adjoints([(r, m, res) for (r, m), res in zip(terms, residuals)])
        del residuals
        grads: dict[int, torch.Tensor] = {}
        lips = dict.fromkeys(blocks, 0.0)
        for (r, m), term in zip(terms, products):
            lam_r = self.lam_of(r)
            if m not in grads:
                grads[m] = term if lam_r == 1.0 else term.mul_(lam_r)
            else:
                grads[m].add_(term, alpha=lam_r)
            lips[m] += lam_r * self.penalty_of(r).curvature * norms[(r, m)]
        del products
        for m in blocks:
            mu = step_scale / max(lips[m], 1e-12)
            w = torch.add(states[m], grads[m], alpha=-mu, out=grads.pop(m))  # x_m - mu g, in place
            states[m] = self.penalty.prox_y(net.activation(m), w, cache[m], mu * self.lam_of(m))
        for r, _ in terms:
            cache.pop(r, None)

    @torch.no_grad()
    def matched_sweep(self, states, preacts: dict[int, torch.Tensor], y, norms,
                      step_scale: float = 1.0, graphs: Sequence[torch.Tensor] | None = None,
                      params: Sequence[torch.Tensor] | None = None, n_total: int | None = None,
                      mirror: bool = False, keep_states: bool = True):
        r"""One backward sweep from the forward pass whose displacements carry back-propagation's
        signal at a known scale (``BCD(gradient='matched')``, docs/maths.md).

        ``states`` start at the forward pass :math:`x^f` (its pre-activations ``preacts``) and their
        entries are replaced, last hidden block first.  With :math:`\varepsilon_L = \nabla_v
        B_L(y, v_L^f)` (the loss gradient at the output's pre-activation) and, for every block
        :math:`m` once its readers are done,

        .. math::
            g_m = \sum_r M_{r,m}^\top\varepsilon_r,\quad \mu_m = s/\textstyle\sum_r\kappa_r\|M_{r,m}\|^2,\quad
            x_m \leftarrow \mathrm{prox}_{\mu_m\lambda_mP_m(\cdot, v_m^f)}(x_m - \mu_m g_m),\quad
            \varepsilon_m = \nabla_vP_m(x_m, v_m^f)\,/\,C_m,\quad C_m = \kappa_m(1 - t_m)\mu_m,

        with :math:`t_m` the pull of the own term (:meth:`Penalty.pull`) and :math:`\kappa_m` the
        penalty's curvature (2 for Fenchel's, whose gradient is twice Bregman's).  To first order in the
        displacement, :math:`\nabla_vP_m(x_m, v^f_m) = -(1-t_m)\mu_m\,D_m g_m`, so
        :math:`\varepsilon_m = D_m\,\partial\ell/\partial x_m`: back-propagation's
        pre-activation gradient with :math:`\sigma'` replaced by the prox's slope :math:`D_m`, for
        any graph of skips and shared operators (the gradient at the auxiliaries and the plain
        forward-anchored one mix readers that carry different scales).  Every residual reads the
        forward pre-activations, so no layer is evaluated again.  Returns
        :math:`\{l: \varepsilon_l\}` for :meth:`weight_gradients` (``residuals=``).

        **Fused** (``graphs`` from :meth:`forward_graphs` with ``inputs_require_grad=True``, and
        ``params``): as soon as :math:`\varepsilon_r` is known, one backward pass of layer
        :math:`r`'s graph gives both :math:`\sum_m M_{r,m}^\top\varepsilon_r` (the gradient at
        its input states, accumulated into the :math:`g_m` of the blocks it reads) and the
        gradient of :math:`\langle\varepsilon_r, v_r(\theta)\rangle` at its parameters, so the
        products the adjoint and the weight gradient share (for a DFB step
        :math:`v = u + D(\tfrac\tau\nu z - \tau D^*u)`: :math:`D^*\varepsilon`) are computed once.
        Returns ``(eps, grads)``, ``grads`` as :meth:`weight_gradients` returns them (the batch
        mean over ``n_total`` samples; ``None`` for frozen or unused parameters).

        **Mirror** (``mirror=True``, Bregman penalties): each block takes the step in the geometry of
        :math:`\phi_m` instead of the prox, :math:`x_m \leftarrow \sigma_m(v_m^f - h_m g_m)`,
        :math:`h_m = (1 - t_m)\mu_m` (:meth:`~liftinv.lifting.penalties.LiftedBregman.mirror_scale`):
        one evaluation of :math:`\sigma_m`, where the prox of a smooth activation (tanh, sigmoid) is a
        Newton solve.  Then :math:`\varepsilon_m = (\sigma_m(v_m^f) - \sigma_m(v_m^f - h_mg_m))/h_m`,
        the secant of :math:`\sigma_m` along the step times :math:`g_m`, evaluated without
        cancellation, or with a round-off bounded against :math:`g_m` (the direct form of a clip or
        sigmoid), or by an expansion exact to the dtype for tiny steps (tanh, sigmoid;
        :meth:`~liftinv.activations.ProxActivation.secant_`): back-propagation's
        pre-activation gradient with :math:`\sigma_m'` replaced by a secant slope, exactly so where
        the step crosses no kink of a piecewise-linear activation, and in the limit of small steps.
        The two steps agree wherever :math:`\sigma_m` is locally the identity (an unsaturated clip or
        ReLU unit); where it is flat, the prox lets a larger displacement through.
        ``keep_states=False``: the steps leave ``states`` at the forward pass (only the
        residuals are wanted): a mirror step saves one elementwise pass per layer, a prox step of a
        clip or ReLU layer computes its residual in the step's own buffer, in place
        (:meth:`~liftinv.activations.ProxActivation.prox_psi_`,
        :meth:`~liftinv.lifting.penalties.Penalty.scaled_residual_`), to the bit the same.
        """
        net, depth, forward = self.network, self.depth, list(states)
        fused = graphs is not None
        if fused:
            wanted = [p for p in params if p.requires_grad]
            into_states: dict[int, torch.Tensor] = {}
            into_params: dict[int, torch.Tensor] = {}
        eps = {depth: self.loss_penalty.grad_v(net.activation(depth), y, preacts[depth])}
        if fused:
            self._layer_backward(depth, graphs[depth - 1], eps[depth], forward, wanted, into_states, into_params)
        for m in range(depth - 1, 0, -1):
            terms = [(r, m) for r, _ in net.readers(m)]
            if fused:
                g = into_states.pop(m)
            else:
                products = net.adjoints([(r, m, eps[r]) for r, _ in terms])
                g = products[0]
                if g.data_ptr() == eps[terms[0][0]].data_ptr():  # an identity or reshape map returns its
                    g = g.clone()  # argument (or a view of it): the step below writes into g
                for term in products[1:]:
                    g.add_(term)
            lip = sum(self.penalty_of(r).curvature * norms[(r, m)] for r, _ in terms)
            mu = step_scale / max(lip, 1e-12)
            c = mu * self.lam_of(m)
            act = net.activation(m)
            if mirror:  # x_m = sigma(v - h g): eps = (sigma(v) - x_m) / h, the secant (secant_)
                h = self.penalty.mirror_scale(mu, c)
                eps[m] = act.secant_(preacts[m], g, h, forward[m])
                if keep_states:
                    states[m] = torch.add(forward[m], eps[m], alpha=-h)
            else:  # the prox step from x_m - mu g, in g's memory
                y_m = self.penalty.prox_y(act, torch.add(states[m], g, alpha=-mu, out=g), preacts[m], c)
                scale = self.penalty.curvature * (1.0 - self.penalty.pull(c)) * mu
                if keep_states:  # else nothing reads the auxiliary, and the residual overwrites it
                    states[m], y_m = y_m, y_m.clone()
                eps[m] = self.penalty.scaled_residual_(act, y_m, preacts[m], forward[m], scale)
            if fused:
                self._layer_backward(m, graphs[m - 1], eps[m], forward, wanted, into_states, into_params)
        if not fused:
            return eps
        return eps, _batch_mean([into_params.get(id(p)) for p in params], y.shape[0] if n_total is None else n_total)

    def _layer_backward(self, r: int, v: torch.Tensor, eps: torch.Tensor, forward, wanted: list,
                        into_states: dict[int, torch.Tensor], into_params: dict[int, torch.Tensor]) -> None:
        """One backward pass of layer ``r``'s pre-activation graph ``v`` with output gradient
        ``eps``: adds :math:`M_{r,m}^\top\varepsilon` to ``into_states[m]`` for the hidden states
        it reads and the parameter gradients to ``into_params`` (keyed by ``id``; shared
        parameters sum over layers)."""
        if r in self.network.explicit_layers and not v.requires_grad:  # no graph: the maps' own products
            self._explicit_backward(r, eps, forward, into_params, into_states)
            return
        sources = sorted({m for m, _ in self.network.sources(r) if 1 <= m < self.depth})
        owned = wanted  # every trainable parameter: a layer may read one it does not register (a
        # shared operator, ScCP's); autograd returns None for the others, without work
        inputs = [forward[m] for m in sources] + owned
        if not inputs or not v.requires_grad:
            return
        out = torch.autograd.grad(v, inputs, eps, allow_unused=True)
        # autograd passes a gradient through sums and identities without copying: a result may be
        # eps itself or shared by two inputs, and the accumulators are updated in place
        seen = {eps.data_ptr()}
        for key, into, grad in zip(sources + [id(p) for p in owned],
                                   [into_states] * len(sources) + [into_params] * len(owned), out):
            if grad is None:
                continue
            if key in into:
                into[key].add_(grad)
            else:
                into[key] = grad.clone() if grad.data_ptr() in seen else grad
                seen.add(into[key].data_ptr())

    def _explicit_backward(self, r: int, eps: torch.Tensor, read, into_params: dict[int, torch.Tensor],
                           into_states: dict[int, torch.Tensor] | None = None) -> None:
        r"""For a layer of ``network.explicit_layers``: the gradients of
        :math:`\langle\varepsilon, v_r\rangle` at its trainable parameters from its maps
        (:meth:`~liftinv.models.linear_maps.LinearMap.param_grads`, at the states ``read``), added
        to ``into_params`` (keyed by ``id``) and, with ``into_states``, :math:`M_{r,m}^\top\varepsilon`
        added to ``into_states[m]`` for the hidden states it reads: what one backward pass of the
        layer's graph gives, without building the graph."""
        if torch.is_grad_enabled():  # (the sweep calls it once per layer under no_grad: no decorator)
            with torch.no_grad():
                return self._explicit_backward(r, eps, read, into_params, into_states)
        net = self.network
        for m, amap in net.sources(r):
            if into_states is not None and 1 <= m < self.depth:
                prod = amap.A_adjoint(eps, net.state_shapes[m])
                if prod.data_ptr() == eps.data_ptr():  # an identity or reshape map: eps itself
                    prod = prod.clone()
                _accumulate(into_states, m, prod)
            for p, g in amap.param_grads(eps, read[m]):
                if p.requires_grad:
                    _accumulate(into_params, id(p), g)

    # -- weight blocks -----------------------------------------------------------------------
    def forward_graphs(self, x0: torch.Tensor, inputs_require_grad: bool = False,
                       ) -> tuple[list[torch.Tensor], dict[int, torch.Tensor], list]:
        r"""A forward pass whose pre-activations keep their graph to their own layer's weights.

        Returns the (detached) states and pre-activations of :meth:`init_aux` and the
        pre-activations :math:`v_l(\theta_l; x_{l-1})` with their one-layer graphs, for
        :meth:`weight_gradients` (``graphs=``): the forward-anchored gradient then needs no
        second evaluation of the layers.  ``inputs_require_grad``: the hidden states are leaves
        that require grad, so each layer's graph reaches its inputs too (the fused
        :meth:`matched_sweep`).  The layers of ``network.explicit_layers`` get no graph: their
        maps give the gradients directly (:class:`Graphs`).
        """
        net, states, graphs = self.network, [x0.detach()], []
        explicit = net.explicit_layers
        if len(explicit) == self.depth:  # no graph to build: a plain forward pass, without switching
            states, preacts = self.init_aux(states[0])  # the grad mode three times per layer
            if inputs_require_grad:  # (new tensors: an identity activation's state is its pre-activation)
                states[1:] = [state.detach().requires_grad_() for state in states[1:]]
            return states, preacts, Graphs(list(preacts.values()), list(states), explicit)
        with torch.enable_grad():
            for li in range(1, self.depth + 1):
                with torch.set_grad_enabled(li not in explicit):
                    graphs.append(v := net.preactivation(li, states))  # reads detached states only
                if li < self.depth:
                    with torch.no_grad():  # (an identity sigma returns its argument: detach first)
                        state = net.activation(li).sigma(v.detach())
                    states.append(state.requires_grad_() if inputs_require_grad else state)
        preacts = {li: v.detach() for li, v in enumerate(graphs, start=1)}
        return states, preacts, Graphs(graphs, list(states), explicit)

    def weight_gradients(self, states, y, params, n_total: int | None = None,
                         inputs: Sequence[torch.Tensor] | None = None,
                         graphs: Sequence[torch.Tensor] | None = None,
                         residuals: dict[int, torch.Tensor] | None = None,
                         ) -> tuple[list, dict[int, torch.Tensor]]:
        r""":math:`\nabla_\Theta\mathcal E` at ``states``, without differentiating :math:`\sigma`.

        The pre-activations :math:`v_l(\theta)` are back-propagated with the fixed
        output gradients :math:`\frac{\lambda_l}{s}\nabla_v P_l(x_l, v_l)`, i.e. the
        gradient of :math:`\frac1s\sum_l\lambda_l\langle\mathrm{sg}(\nabla_v P_l), v_l(\theta)\rangle`.
        ``n_total`` replaces the batch size :math:`s` in the mean when this batch is one
        rank's part of a larger one (data-parallel training sums the ranks' gradients).

        ``inputs`` (the states of a forward pass, :math:`x^f`): the layers read these
        instead of the auxiliaries, :math:`v_l = v_l(\theta_l; x^f_{l-1}) = v_l^f`, and each
        is pulled towards its auxiliary, :math:`\nabla_v P_l(x_l, v_l^f) = x^f_l - x_l` for
        Bregman (the loss layer gets the exact gradient of the loss).  This is the
        *forward-anchored* lifted gradient (docs/maths.md): to first order in the
        auxiliaries' displacement it is the back-propagated gradient with one positive scale
        per layer and each :math:`\sigma'(v)` replaced by the slope of the block's proximal
        step (the same 0/1 mask for piecewise-linear activations).  ``graphs`` (from
        :meth:`forward_graphs`) gives those pre-activations with their graphs already built;
        with ``inputs`` too, :math:`\sigma(v_l^f)` is read from them, not recomputed.
        ``residuals`` (from :meth:`matched_sweep`, with ``graphs``): the output gradients
        themselves, :math:`\frac1s\sum_l\langle\mathrm{sg}(\varepsilon_l), v_l(\theta)\rangle`
        (no :math:`\lambda_l`: they are on back-propagation's scale).
        Returns the gradients (``None`` for unused and frozen parameters) and the detached
        pre-activations of the layers at the points they read, for monitoring.
        """
        net, s = self.network, y.shape[0] if n_total is None else n_total
        read = states if inputs is None else inputs
        # explicit layers: their maps give the gradients, at the states their pre-activations read
        explicit, explicit_read = (net.explicit_layers, read) if graphs is None else _explicit_of(graphs)
        outputs, grad_outputs, cache = [], [], {}  # 1/s scales the (small) gradients, not the residuals
        direct: dict[int, torch.Tensor] = {}
        for li in range(1, self.depth + 1):
            if graphs is not None:
                v = graphs[li - 1]
            else:
                with torch.set_grad_enabled(torch.is_grad_enabled() and li not in explicit):
                    v = net.preactivation(li, read)
            cache[li] = vd = v.detach()
            if not (v.requires_grad or li in explicit):
                continue
            if residuals is not None:
                res = residuals[li]
            else:
                with torch.no_grad():
                    pen, act, tgt = self.penalty_of(li), net.activation(li), self.target(li, states, y)
                    if inputs is not None and li < self.depth:  # sigma(v_l^f) is the forward state x_l^f
                        res = pen.grad_v_known(act, tgt, vd, inputs[li])
                    else:
                        res = pen.grad_v(act, tgt, vd)
                    if self.lam_of(li) != 1.0:
                        res.mul_(self.lam_of(li))
            if li in explicit:
                self._explicit_backward(li, res, explicit_read, direct)
            else:
                outputs.append(v)
                grad_outputs.append(res)
        wanted = [p for p in params if p.requires_grad]  # frozen parameters get no gradient
        grads = iter(torch.autograd.grad(outputs, wanted, grad_outputs, allow_unused=True)
                     if outputs and wanted else [None] * len(wanted))
        out = [_plus(next(grads), direct.get(id(p))) if p.requires_grad else None for p in params]
        return _batch_mean(out, s), cache

    def jacobian_norm_sq(self, li: int, states, vecs: list[torch.Tensor] | None = None, n_iter: int = 1,
                         cold_iters: int = 10) -> tuple[float, list[torch.Tensor]]:
        r"""Power iteration for :math:`\|J_l\|^2`, :math:`J_l:\theta_l\mapsto v_l` on this batch
        (on the union of the ranks' batches in data-parallel training), over the layer's
        trainable parameters (frozen ones are constants of :math:`v_l`).

        The layer's pre-activation is linear in its parameters (dense and conv maps),
        so :math:`J_l\delta` is the layer evaluated with parameters :math:`\delta` (and the
        frozen ones set to zero), and :math:`J_l^*J_l\delta` its autograd vector-Jacobian
        product.  ``vecs`` is the warm start (same shapes as the trainable parameters);
        ``None`` starts cold from the seed ``li`` with at least ``cold_iters`` iterations
        (:func:`~liftinv.models.power.power_iteration`).  Returns the estimate and the
        next warm start.
        """
        layer = self.network.layer(li)
        named = list(layer.named_parameters())
        trainable = [(n, p) for n, p in named if p.requires_grad]
        frozen = {n: torch.zeros_like(p) for n, p in named if not p.requires_grad}
        args = (states[li - 1], *(states[s] for s in layer.skip_from))

        def normal_op(vs):
            delta = [v.detach().requires_grad_(True) for v in vs]
            with torch.enable_grad():
                params = {**frozen, **{n: d for (n, _), d in zip(trainable, delta)}}
                out = functional_call(layer, params, args)
                back = list(torch.autograd.grad(out, delta, grad_outputs=out))
            all_reduce_sum_(back)  # J^*J = sum over ranks of J_r^*J_r (no-op in one process)
            return back

        est, vecs = power_iteration(normal_op, vecs, n_iter, shape=[p.shape for _, p in trainable],
                                    like=trainable[0][1], seed=li, cold_iters=cold_iters, unit_next=False)
        return float(est), vecs


class Graphs(list):
    r"""The pre-activations :math:`v_1, \dots, v_L` of :meth:`LiftedProblem.forward_graphs`, each with
    its one-layer graph, except those of the layers in ``explicit`` (``network.explicit_layers``),
    plain tensors whose maps give the gradients directly at ``states``, the forward states read."""

    def __init__(self, graphs, states: list[torch.Tensor], explicit: frozenset[int]) -> None:
        super().__init__(graphs)
        self.states, self.explicit = states, explicit


def _explicit_of(graphs) -> tuple[frozenset[int], list | None]:
    """(explicit layers, the states they read) of ``graphs``; none for a plain list of graphs."""
    return (graphs.explicit, graphs.states) if isinstance(graphs, Graphs) else (frozenset(), None)


def _accumulate(into: dict, key, grad: torch.Tensor) -> None:
    if key in into:
        into[key].add_(grad)
    else:
        into[key] = grad


def _plus(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    return b if a is None else a if b is None else a.add_(b)


def _batch_mean(grads: list, n: int) -> list:
    """``grads`` (``None`` entries kept) divided in place by the batch size ``n``: one kernel launch
    for every layer."""
    present = [g for g in grads if g is not None]
    if present:
        torch._foreach_div_(present, float(n))
    return grads
