r"""The weight block of a lifted training step: one proximal-gradient (plain, Nesterov, heavy-ball) or
Adam step per layer from the lifted weight gradients.

:class:`WeightUpdates` is a mixin of :class:`~liftinv.solvers.BCD` (and so of
:class:`~liftinv.solvers.ISGM`): it reads the optimizer's ``param_groups`` (one per layer, each with
its ``layer`` index and the weight step's hyperparameters) and ``state``, and the solver's
``problem``, ``network`` and ``_steps``.  A layer's proximal-gradient step is :math:`\gamma =
s/L_\theta` with :math:`L_\theta = \lambda_l\kappa\|J_l\|^2/S` (+ the ISGM proximal weight),
:math:`\|J_l\|^2` from a warm-started power iteration on the batch (:meth:`WeightUpdates._lipschitz`).
"""

from __future__ import annotations

import math

import torch
from torch.optim.adam import adam as _adam


class WeightUpdates:
    """The weight steps of a lifted solver (module docstring)."""

    @torch.no_grad()
    def _extrapolate(self) -> None:
        """Nesterov's extrapolation of the groups with ``momentum='nesterov'`` (see ProxGrad)."""
        for group in self.param_groups:
            if group.get("momentum") != "nesterov":
                continue
            gstate = self.state[group["params"][0]]
            t_prev = gstate.get("t", 1.0)
            t = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t_prev**2))
            beta = group["beta"] if group["beta"] is not None else (t_prev - 1.0) / t
            gstate["t"] = t
            for p in group["params"]:
                st = self.state[p]
                prev = st.get("prev")
                st["prev"] = p.detach().clone()
                if prev is not None:
                    p.add_(p - prev, alpha=beta)

    def _lipschitz(self, group, states, batch: int) -> float:
        """:math:`L_\\theta` of a layer's weight block: :math:`\\lambda_l` (the current one, which a
        schedule may grow between refreshes) times :math:`\\kappa\\|J\\|^2/S`, refreshed every
        ``lipschitz_every`` steps."""
        li, s = group["layer"], self.param_groups[0]
        gstate = self.state[group["params"][0]]
        exact = s["exact_norms"]
        # a batch of another size (the last, partial one of an epoch) has a Jacobian whose top
        # direction the warm start does not know: one warm iteration then underestimates it by far
        # (a batch of one sample is rank one) and the step overshoots, so it restarts cold
        resized = gstate.get("lip_batch", batch) != batch
        if "lip_unit" not in gstate or self._steps % s["lipschitz_every"] == 0 or exact or resized:
            vecs = None if exact or resized else gstate.get("power")
            est, gstate["power"] = self.problem.jacobian_norm_sq(li, states, vecs,
                                                                 200 if exact else self._warm_iters(group, batch))
            gstate["lip_unit"] = self.problem.penalty_of(li).curvature * est / batch
            gstate["lip_batch"] = batch
        return self.problem.lam_of(li) * gstate["lip_unit"] + group["prox_weight"]

    def _warm_iters(self, group, batch: int) -> int:
        r"""Warm power iterations for a weight block's :math:`\|J\|^2`: one where the batch's
        pre-activations outnumber twice the layer's parameters, so that the Jacobians of successive
        batches share their top directions; three where they do not: a Jacobian of low rank whose
        range moves from batch to batch (a 4-8-2 MLP in batches of 1-4 samples: one iteration from
        the last batch's vector underestimated it by orders of magnitude and the weights diverged)."""
        net, li = self.network, group["layer"]
        shape = net.out_shape if li == net.depth else net.state_shapes[li]
        n_params = sum(p.numel() for p in group["params"] if p.requires_grad)
        return 1 if batch * math.prod(shape) >= 2 * n_params else 3

    @torch.no_grad()
    def _update_weights(self, grads, states, anchor, batch: int) -> None:
        """One weight step on every layer from the lifted gradients ``grads`` (in the order of
        the groups' parameters); ``anchor`` holds the ISGM proximal centres, or ``None``."""
        per_group, k = [], 0
        for gi, group in enumerate(self.param_groups):
            params = group["params"]
            gs = grads[k : k + len(params)]
            k += len(params)
            if anchor is not None and group["prox_weight"] > 0:
                torch._foreach_add_(gs, torch._foreach_sub(params, anchor[gi]), alpha=group["prox_weight"])
            per_group.append((group, params, gs))
        if self.param_groups[0]["weights"] == "adam":
            # Adam's step ignores a block's gradient scale (but for eps): each layer's block sees
            # its own term P_l, not lam_l P_l, so tiny penalty weights do not drown in eps
            for group, _, gs in per_group:
                lam = self.problem.lam_of(group["layer"])
                if lam != 1.0 and group["gradient"] != "matched":  # matched: on back-propagation's scale
                    torch._foreach_div_(gs, lam)
            self._adam_layers(per_group)
            return
        step_scale = self.param_groups[0]["step_scale"]
        for group, params, gs in per_group:
            gamma = step_scale / max(self._lipschitz(group, states, batch), 1e-12)
            for p, g in zip(params, gs):
                st = self.state[p]
                if group["momentum"] == "heavy-ball":
                    prev = st.get("prev")
                    st["prev"] = p.detach().clone()
                    if prev is not None:
                        p.add_(p - prev, alpha=0.9 if group["beta"] is None else group["beta"])
                p.add_(g, alpha=-gamma)
                if group["weight_decay"] > 0:
                    p.div_(1.0 + gamma * group["weight_decay"])

    def _adam_layers(self, per_group) -> None:
        """Adam (``torch.optim.adam.adam``, ``foreach``) on every layer's block: the layers are
        independent, so the groups that share their settings are one set of kernels; each
        tensor keeps its own step count, as in ``torch.optim.Adam``."""
        buckets: dict[tuple, list] = {}
        for group, params, gs in per_group:
            key = (group["lr"], tuple(group["betas"]), group["eps"], group["weight_decay"])
            bucket = buckets.setdefault(key, [[], [], [], [], []])
            for p, g in zip(params, gs):
                st = self.state[p]
                if "step" not in st:
                    st["step"] = torch.tensor(0.0, dtype=torch.float32)
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                for lst, t in zip(bucket, (p, g, st["exp_avg"], st["exp_avg_sq"], st["step"])):
                    lst.append(t)
        for (lr, (b1, b2), eps, wd), (params, grads, m, v, steps) in buckets.items():
            _adam(params, grads, m, v, [], steps, foreach=True, capturable=False, differentiable=False,
                  fused=None, grad_scale=None, found_inf=None, has_complex=False, amsgrad=False,
                  beta1=b1, beta2=b2, lr=lr, weight_decay=wd, eps=eps, maximize=False)
