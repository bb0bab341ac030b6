r"""Lifted inversion of a network with frozen weights (lifted-maths.md 1, 4 and 8.10).

Given a network :math:`N` (layers :math:`l = 1..L`, :math:`v_l = A_lx_{l-1} + b_l` plus skips)
and outputs :math:`y`, find inputs :math:`x_0` by minimising over :math:`x_0` and the
auxiliaries :math:`X = (x_1, \dots, x_{L-1})`, per sample,

.. math::
    E(x_0, X) = \sum_{l=1}^{L-1}\lambda_l B_l(x_l, v_l) + B_{\sigma_L}(y, v_L) + \alpha J(x_0),

the lifted objective of :class:`~liftinv.lifting.LiftedProblem` (its last term is the data
term: least squares :math:`\tfrac12\|y - v_L\|^2` for an identity output, the Bregman
misfit :math:`B_\Psi(y, v_L)` of the papers for a proximal output activation) plus the
regulariser.  :math:`E` is convex in each block.  Two solvers:

* ``method='apg'`` (the default for the Bregman penalty): accelerated proximal gradient over
  all blocks at once, with backtracking, adaptive restart and penalty continuation
  (:mod:`liftinv.inversion.accelerated`);
* ``method='bcd'``: block coordinate descent, one iteration being

1. one proximal-gradient sweep over the hidden blocks :math:`x_{L-1}, \dots, x_1`
   (:meth:`LiftedProblem.aux_sweep`, backward order so that the data reaches
   :math:`x_1` in one sweep, steps :math:`1/L_m` from the operator norms);
2. one proximal-gradient step on :math:`x_0`: with
   :math:`g = \sum_r\lambda_rM_{r,0}^\top(\sigma_r(v_r) - x_r)` over the layers reading
   the input (:math:`M_{1,0} = A_1`; skips from the input, e.g. in unrolled nets) and
   :math:`L_0 = \sum_r\lambda_r\kappa_r\|M_{r,0}\|^2`,
   :math:`x_0 \leftarrow \mathrm{prox}_{\mu\alpha J}(x_0 - \mu g)`, :math:`\mu = s/L_0`
   (the TV prox by a few warm-started dual iterations).

Penalty continuation (``lam_growth > 1``): after every iteration
:math:`\lambda_l \leftarrow \min(\text{lam\_growth}\,\lambda_l, \text{lam\_max})`, the quadratic-penalty
method's :math:`\rho\to\infty` (as in :class:`~liftinv.solvers.BCD`): a fixed :math:`\lambda` solves a
relaxation whose minimiser lets the hidden states deviate from the forward pass (a lower
bound of the nested problem), growing :math:`\lambda` drives the violation to 0 so the
estimate approaches a minimiser of the nested :math:`B_{\sigma_L}(y, v_L(x_0)) + \alpha J(x_0)`.

``beta > 0`` adds an inertial (iPALM-type) extrapolation
:math:`\hat x = x^k + \beta(x^k - x^{k-1})` of every block before its step: our choice
(the papers do not say), off by default.  The weights are never touched (``no_grad``).
All samples of the batch are independent problems solved together: the step sizes of
``'apg'`` (backtracking, momentum, restart) and the stopping rule are per sample, so a sample's
estimate does not depend on the others in its batch.

Both stop after ``iters`` iterations (default 1000), or earlier once every sample has met one of
two rules, a sample that gets there first being frozen at its iterate while the others go on:

* **plateau** (``plateau > 0``, default 1e-4): every :data:`PLATEAU_CHECK` iterations the sample's
  lifted objective :math:`E_k` (penalties, data term and :math:`\alpha J`) is evaluated, and the
  sample stops once :math:`E_{k-W} - E_k \le \text{plateau}\cdot E_k` over the last
  :math:`W =` :data:`PLATEAU_WINDOW` iterations;
* **small steps** (``tol > 0``, default 1e-5): the sample's relative change over all its blocks has
  stayed below ``tol`` for 5 iterations in a row.  With a TV prior this one seldom fires: the
  warm-started, inexact TV prox keeps the iterates moving by about 1e-3 per iteration (measured on a
  tanh MLP after 1400 iterations), while the objective no longer changes.

Both wait until the penalty weights have stopped growing (``lam_growth``).  The plateau rule was
set on seven small torch networks and crops of the embedded *training* images
(``benchmarks/invert_unseen.py``, docs/results.md): there it ends every run after 325-900
iterations within 0.1 dB of 3000 iterations, where a fixed 300 iterations left a residual network
6.2 dB short.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from ..activations import Identity
from ..lifting.problem import LiftedProblem
from ..models.network import Layer, LiftedNetwork
from ..models.shape_maps import IdentityMap
from ..utils.checks import check_number, check_tensor
from . import DEFAULT_ALPHA
from .accelerated import JointStep, _pick
from .regularisers import Regulariser, get_regulariser
from .result import InversionResult, check_features, check_reference, data_misfit, psnr_values, reference_tensor


def _identity_output(network: LiftedNetwork) -> bool:
    return isinstance(network.activation(network.depth), Identity)


def lifted_output(network: LiftedNetwork) -> LiftedNetwork:
    r"""``network`` with one more layer, the identity, after its output activation: the output
    :math:`\sigma_L(v_L)` becomes a state of its own (``data_term='lifted'``).  The same layers and
    weights (shared, not copied); checked to compute the same outputs on a random input, so a
    network that computes its outputs its own way is refused."""
    lifted = LiftedNetwork([*network.layers, Layer(IdentityMap(), "identity")], in_shape=network.in_shape)
    ref = next(network.parameters(), None)
    probe = torch.rand((2,) + tuple(network.in_shape), generator=torch.Generator().manual_seed(0))
    probe = probe.to(ref) if ref is not None else probe
    with torch.no_grad():
        same = torch.allclose(lifted(probe), network(probe), rtol=1e-4, atol=1e-5)
    if not same:
        raise ValueError(f"data_term='lifted' needs a network that is its layers ({type(network).__name__} "
                         "computes its outputs its own way): use data_term='bregman'")
    return lifted


def initial_input(network: torch.nn.Module, y: torch.Tensor, init) -> torch.Tensor:
    """``init``: a tensor, ``'half'`` (0.5 everywhere, mid-grey) or ``'zeros'``.

    The shape is ``(batch,) + network.in_shape``; a plain ``nn.Module`` has no ``in_shape``,
    so it needs ``init`` as a tensor (whose shape is then taken as given)."""
    in_shape = getattr(network, "in_shape", None)
    if in_shape is None and not isinstance(init, torch.Tensor):
        raise ValueError(f"the input shape of {type(network).__name__} is unknown: convert it with "
                         "from_module(module, in_shape) or pass x_init as a tensor of the input's shape")
    shape = (y.shape[0],) + tuple(in_shape if in_shape is not None else init.shape[1:])
    if isinstance(init, torch.Tensor):
        check_tensor(init, "x_init")
        if not init.is_floating_point():
            raise TypeError(f"x_init is {init.dtype}: give a floating start in the network's input scale "
                            "(8-bit images: x_init.float() / 255)")
        if tuple(init.shape) != shape:
            raise ValueError(f"x_init has shape {tuple(init.shape)}; expected {shape}")
        return init.detach().to(y).clone()
    if init == "half":
        return torch.full(shape, 0.5, dtype=y.dtype, device=y.device)
    if init == "zeros":
        return torch.zeros(shape, dtype=y.dtype, device=y.device)
    raise ValueError(f"init must be a tensor, 'half' or 'zeros', got {init!r}")


def _relative_change(new, old) -> torch.Tensor:
    """:math:`\\|x^+ - x\\| / \\|x\\|` of each sample over all its blocks (the stopping rule's
    measure), shape ``(B,)``."""
    num = sum((a - b).square().flatten(1).sum(1, dtype=torch.float64) for a, b in zip(new, old))
    den = sum(b.square().flatten(1).sum(1, dtype=torch.float64) for b in old)
    return (num / den.clamp_min(1e-60)).sqrt()


def _freeze(states, old, active) -> None:
    """Put the samples where ``active`` is false back to ``old`` (in place in the list)."""
    states[:] = [_pick(active, s, o) for s, o in zip(states, old)]


#: ``loose`` warns when the nested objective exceeds the lifted one by more than this share of it
LOOSE_GAP = 0.5
#: the plateau rule (module docstring): the window over which the objective must have fallen, and
#: how often it is evaluated (each evaluation costs about one iteration)
PLATEAU_WINDOW, PLATEAU_CHECK = 100, 25


def loose(record: dict, alpha: float) -> bool:
    """Warn (``RuntimeWarning``) when the estimate does not explain ``y`` through the network: the
    nested objective :math:`F = \\tfrac12\\|N(x_0) - y\\|^2 + \\alpha J(x_0)` of the final
    ``record`` is more than :data:`LOOSE_GAP` above the lifted objective :math:`E` (in share of
    :math:`F`), so the hidden states have left the forward pass and the relaxation is far from the
    problem (seen on deep residual networks, e.g. DnCNN, where :math:`E` fell 20x and the misfit
    hardly moved).  Returns whether it warned."""
    nested = record["misfit"] + alpha * record["regulariser"]
    if not nested > 0 or not nested - record["objective"] > LOOSE_GAP * nested:
        return False
    warnings.warn(f"lifted inversion: the network's own misfit and prior (F = {nested:.4g}) are "
                  f"{nested / max(record['objective'], 1e-30):.3g}x the lifted objective ({record['objective']:.4g}): "
                  f"the hidden states have left the forward pass (constraint violation {record['violation']:.3g}), "
                  "so x does not explain y through the network; raise iters (deep networks can need thousands), "
                  "or lam if y is noisy, or compare with invert_gradient(net, y, method='lbfgs')",
                  RuntimeWarning, stacklevel=4)
    return True


class LiftedInversion:
    """Lifted Bregman inversion solver (see the module docstring).

    Parameters
    ----------
    network: the frozen :class:`LiftedNetwork` (e.g. from :func:`from_sequential` or
        :func:`prefix_network`).
    regulariser: ``'tv'``, ``'tikhonov'``, ``'box'``, ``'none'`` or a :class:`Regulariser`.
    alpha: regularisation weight :math:`\\alpha \\ge 0`.
    lam: penalty weight :math:`\\lambda_l` of the hidden layers (scalar or one per layer).
    penalty: ``'bregman'`` (default), ``'mac'`` or ``'fenchel'``.
    beta: inertia of the block steps (0: plain block prox-gradient, monotone).
    step_scale: multiplies every :math:`1/L` step.
    tv_iters: dual iterations of the TV prox per outer iteration (warm-started; ``None``: 3 for
        ``'apg'``, where 10, 5, 3 and 2 gave the same PSNR to 0.05 dB on the training crops of the
        torch encoder of ``liftinv bench invert --cases torch`` at 0, 1, 5 and 10% noise, 3 with
        iterations 8-9% shorter than 5; 10 for ``'bcd'``; a TV instance passed as ``regulariser`` keeps
        its own).
    method: ``'apg'`` (joint accelerated steps; Bregman penalty only) or ``'bcd'``; ``None``:
        ``'apg'`` for the Bregman penalty, ``'bcd'`` otherwise.
    lam_growth, lam_max: penalty continuation :math:`\\lambda \\leftarrow \\min(g\\lambda, \\lambda_{\\max})`
        per iteration (default ``lam_growth=1``: none; ``lam_max``: 1e3 for ``'apg'``, none for
        ``'bcd'``); see docs/inversion.md for when it pays (noisy codes of some networks).
    tol: stopping tolerance on the relative change of a sample's blocks (0: off; module docstring).
    plateau: stopping tolerance on the relative decrease of a sample's objective over the last
        :data:`PLATEAU_WINDOW` iterations (0: off).  Both off: every run takes all ``iters``.
    data_term: ``'bregman'`` (default): the last penalty is the Bregman misfit
        :math:`B_{\\sigma_L}(y, v_L)` of the papers; ``'lifted'``: the output activation gets a state of
        its own, :math:`x_L` tied to :math:`v_L` by :math:`\\lambda_L B_L(x_L, v_L)`, and the data term
        is :math:`\\tfrac12\\|y - x_L\\|^2`, the Gaussian likelihood of noisy outputs (one more identity
        layer; a list ``lam`` of one weight per hidden layer gives the output state its last one, one
        more entry sets the output state's own).  No change for an identity output.
        On the training crops of ``liftinv bench invert``'s two encoders (its tuning scores) it was
        0.11-0.34 dB ahead in 4 of 6 noisy settings, 0.04-0.16 behind in the other two and 0.21 behind
        without noise, and it converges more slowly on exact outputs (docs/inversion.md).
    """

    DATA_TERMS = ("bregman", "lifted")

    METHODS = ("apg", "bcd")
    #: the iteration of ``'apg'``; a subclass of :class:`JointStep` changes its metric
    step_class: type[JointStep] = JointStep

    def __init__(self, network: LiftedNetwork, regulariser: str | Regulariser = "tv", alpha: float = DEFAULT_ALPHA,
                 *, lam=1.0, penalty: str = "bregman", beta: float = 0.0, step_scale: float = 1.0,
                 tv_iters: int | None = None, order: str = "backward", lam_growth: float | None = None,
                 lam_max: float | None = None, method: str | None = None, tol: float = 1e-5,
                 plateau: float = 1e-4, data_term: str = "bregman") -> None:
        if not isinstance(network, LiftedNetwork):
            raise TypeError(f"LiftedInversion needs a LiftedNetwork, got {type(network).__name__}: convert "
                            "a torch module with liftinv.inversion.as_lifted(module, in_shape=...)")
        alpha = check_number(alpha, "alpha")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        step_scale = check_number(step_scale, "step_scale", strict=True)
        method = method or ("apg" if penalty == "bregman" else "bcd")
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {self.METHODS}, got {method!r}")
        if method == "apg" and beta > 0:
            raise ValueError("beta is the inertia of method='bcd'; method='apg' has its own (FISTA) momentum")
        if method == "apg" and penalty != "bregman":
            raise ValueError(f"method='apg' needs penalty='bregman' (got {penalty!r}); use method='bcd'")
        if method == "apg" and order != "backward":
            raise ValueError(f"order={order!r} is the sweep of method='bcd'; method='apg' updates every block at once")
        if not tol >= 0:
            raise ValueError(f"tol must be >= 0, got {tol}")
        if not plateau >= 0:
            raise ValueError(f"plateau must be >= 0, got {plateau}")
        apg = method == "apg"
        lam_growth = 1.0 if lam_growth is None else lam_growth
        lam_max = (1e3 if apg else float("inf")) if lam_max is None else lam_max
        self.method, self.tol, self.plateau = method, float(tol), float(plateau)
        if not (lam_growth >= 1.0 and math.isfinite(lam_growth) and lam_max > 0):  # (NaN fails every test)
            raise ValueError(f"lam_growth must be a finite number >= 1 and lam_max > 0, got {lam_growth}, {lam_max}")
        self.lam_growth, self.lam_max = float(lam_growth), float(lam_max)
        if data_term not in self.DATA_TERMS:
            raise ValueError(f"data_term must be one of {self.DATA_TERMS}, got {data_term!r}")
        if data_term == "lifted" and not _identity_output(network):
            if isinstance(lam, (list, tuple)) and lam and len(lam) == network.depth - 1:
                lam = [*lam, lam[-1]]  # one per hidden layer: the output state gets the last one
            network = lifted_output(network)
        self.network, self.data_term = network, data_term
        self.problem = LiftedProblem(network, penalty=penalty, lam=lam if network.depth > 1 else [])
        tv_iters = (3 if apg else 10) if tv_iters is None else tv_iters
        # a name ('tv', 'TV' ...) builds a fresh regulariser with tv_iters (ignored unless TV); an
        # instance keeps its own settings
        named = regulariser is None or isinstance(regulariser, str)
        self.regulariser = get_regulariser(regulariser, **({"iters": tv_iters} if named else {}))
        self.alpha, self.beta, self.step_scale, self.order = float(alpha), float(beta), float(step_scale), order
        self._norms: dict | None = None

    # -- Lipschitz constants ------------------------------------------------------------------
    @torch.no_grad()
    def norms(self) -> dict[tuple[int, int], float]:
        """:math:`\\|M_{r,m}\\|^2` of every map reading a state (input included), by 50
        power iterations, times 1.01 (the Rayleigh quotient approaches from below); 20 for
        ``'apg'``, whose backtracking corrects the scale (the norms only balance the blocks)."""
        if self._norms is None:
            net, norms = self.network, {}
            for r in range(1, net.depth + 1):
                for m, amap in net.sources(r):
                    est, vec = amap.op_norm_sq(net.state_shapes[m])
                    if vec is not None and self.method == "bcd":
                        est, _ = amap.op_norm_sq(net.state_shapes[m], vec, n_iter=30)
                    norms[(r, m)] = 1.01 * est
            self._norms = norms
        return self._norms

    # -- objective -------------------------------------------------------------------------------
    @torch.no_grad()
    def objective(self, states, y, cache=None) -> dict[str, float]:
        """Batch means of the lifted objective (penalties + data term + alpha J), the
        violation and the nested misfit :math:`\\tfrac12\\|N(x_0) - y\\|^2`."""
        x0 = states[0]
        ev = self.problem.evaluate(states, y, cache)
        reg = float(self.regulariser.value(x0).mean()) if self.alpha > 0 else 0.0
        return {"objective": ev["lifted"] + self.alpha * reg, "lifted": ev["lifted"], "regulariser": reg,
                "violation": ev["violation"], "misfit": float(data_misfit(self.network, x0, y).mean())}

    @torch.no_grad()
    def sample_objective(self, states, y) -> torch.Tensor:
        """The lifted objective of each sample, ``(B,)`` in float64 (the plateau rule's measure)."""
        prob, net, cache = self.problem, self.network, {}
        total = torch.zeros(y.shape[0], dtype=torch.float64, device=y.device)
        for li in range(1, net.depth + 1):
            v, act = prob.preact(li, states, cache), net.activation(li)
            total += prob.lam_of(li) * prob.penalty_of(li).value(act, prob.target(li, states, y), v).double()
        if self.alpha > 0:
            total += self.alpha * self.regulariser.value(states[0]).double()
        return total

    # -- the input block -------------------------------------------------------------------------
    @torch.no_grad()
    def input_step(self, states, y, cache) -> None:
        r""":math:`x_0 \leftarrow \mathrm{prox}_{\mu\alpha J}(x_0 - \mu g)` (module docstring)."""
        net, prob, norms = self.network, self.problem, self.norms()
        grad, lip = None, 0.0
        for r, amap in net.readers(0):
            pen, lam_r = prob.penalty_of(r), prob.lam_of(r)
            v = prob.preact(r, states, cache)
            res = pen.grad_v(net.activation(r), prob.target(r, states, y), v)
            term = amap.A_adjoint(res, net.state_shapes[0])
            grad = term * lam_r if grad is None else grad.add_(term, alpha=lam_r)
            lip += lam_r * pen.curvature * norms[(r, 0)]
        mu = self.step_scale / max(lip, 1e-12)
        w = states[0] - mu * grad
        states[0] = self.regulariser.prox(w, mu * self.alpha) if self.regulariser.active(self.alpha) else w
        for r, _ in net.readers(0):
            cache.pop(r, None)

    def check_target(self, y) -> torch.Tensor:
        """``y`` detached, after checking its shape, its values (finite) and, for a proximal
        output activation, that it lies in the closed domain of that activation's Psi."""
        net = self.network
        check_features(y, net.out_shape)
        y = y.detach()
        act = net.activation(net.depth)
        if not bool(act.in_domain(y).all()):
            bad = int((~act.in_domain(y)).sum())
            raise ValueError(f"y has {bad} values outside the range of the network's output activation ({act}): "
                             "the Bregman data term needs every y to be a possible output (e.g. >= 0 after a "
                             "ReLU); project noisy outputs into the range first (y.clamp_min(0) after a ReLU; "
                             "net.activation(net.depth).project(y) for any), as `liftinv invert --noise` does, "
                             "or fit y by least squares with data_term='lifted'")
        return y

    # -- driver -----------------------------------------------------------------------------------
    @torch.no_grad()
    def run(self, y: torch.Tensor, iters: int = 1000, *, x_init="half", x_true: torch.Tensor | None = None,
            monitor_every: int = 10, progress: bool = False, callback: Callable[[dict], None] | None = None,
            desc: str = "lifted inversion") -> InversionResult:
        """Invert the outputs ``y`` (shape ``(B,) + network.out_shape``) in at most ``iters``
        iterations (the stopping rules of the module docstring may end it earlier).

        ``x_true`` (optional) adds the PSNR of the estimate to the history;
        ``monitor_every`` sets how often the history is recorded (each record costs
        about one forward pass, not counted in ``seconds``).
        """
        net = self.network
        p = reference_tensor(net, y)
        iters = check_number(iters, "iters", integer=True)
        monitor_every = check_number(monitor_every, "monitor_every", minimum=1, integer=True)
        y = self.check_target(y).to(p)
        x0 = initial_input(net, y, x_init)
        x_true = check_reference(x_true, x0)
        self.regulariser.reset()
        lam0 = list(self.problem.lam)
        states, cache = self.problem.init_aux(x0)
        states = list(states)
        norms = self.norms()
        hidden_norms = {k: v for k, v in norms.items() if k[1] >= 1}
        apg = self.method == "apg"
        step = self.step_class(self.problem, norms, self.regulariser, self.alpha, self.step_scale) if apg else None
        z = [s.clone() for s in states] if apg else None  # the extrapolated point of 'apg'
        prev = [s.clone() for s in states] if self.beta > 0 and not apg else None
        history, seconds, it = [], 0.0, 0
        calm = torch.zeros(y.shape[0], dtype=torch.long, device=y.device)  # per sample
        active = torch.ones(y.shape[0], dtype=torch.bool, device=y.device)
        track = self.tol > 0 or self.plateau > 0  # the rules freeze samples: BCD keeps its last iterate
        levels: list[torch.Tensor] = []  # the plateau rule's objectives, every PLATEAU_CHECK iterations

        def record(it):
            rec = {"iteration": it, "seconds": seconds, **self.objective(states, y, cache)}
            if x_true is not None:
                rec["psnr"] = float(psnr_values(states[0], x_true).mean())
            history.append(rec)
            if callback is not None:
                callback(rec)
            return rec

        record(0)
        bar = tqdm(range(1, iters + 1), desc=desc, disable=not progress, leave=False)
        try:
            for it in bar:
                t0 = time.perf_counter()
                if apg:
                    step.active = active
                    states, z, change = step(z, states, y)
                    cache.clear()
                else:
                    old = [t.clone() for t in states] if track else None  # what the stopping rules compare with
                    if self.beta > 0:
                        for m in range(len(states)):
                            cur = states[m]
                            states[m] = cur + self.beta * (cur - prev[m])
                            prev[m] = cur
                        cache.clear()
                    if net.depth > 1:
                        self.problem.aux_sweep(states, y, cache, hidden_norms, step_scale=self.step_scale,
                                               order=self.order)
                    self.input_step(states, y, cache)
                    if old is None:  # no stopping rule: every iteration runs
                        change = torch.full_like(calm, 1, dtype=torch.float64)
                    else:
                        if not bool(active.all()):
                            _freeze(states, old, active)
                            cache.clear()
                        change = _relative_change(states, old)
                if self.lam_growth != 1.0:
                    self.problem.lam = [min(lam * self.lam_growth, self.lam_max) for lam in self.problem.lam]
                grown = self.lam_growth == 1.0 or all(lam >= self.lam_max for lam in self.problem.lam)
                if grown and self.plateau > 0 and it % PLATEAU_CHECK == 0:  # (counted in the seconds)
                    levels.append(self.sample_objective(states, y))
                    back = PLATEAU_WINDOW // PLATEAU_CHECK
                    if len(levels) > back:
                        now, then = levels[-1], levels[-1 - back]
                        active = active & ~(then - now <= self.plateau * now.abs())
                if p.is_cuda:
                    torch.cuda.synchronize(p.device)
                seconds += time.perf_counter() - t0
                calm = torch.where(change < self.tol, calm + 1, torch.zeros_like(calm))
                if grown:
                    active = active & (calm < 5)
                done = not bool(active.any())
                if it % monitor_every == 0 or it == iters or done:
                    rec = record(it)
                    bar.set_postfix(obj=f"{rec['objective']:.4g}", viol=f"{rec['violation']:.2g}")
                if done:
                    break
        finally:  # the penalty weights come back even when a callback or a step raises
            bar.close()
            lam_final = list(self.problem.lam)
            self.problem.lam = lam0
        loose(history[-1], self.alpha)
        settings = {"method": "lifted", "solver": self.method, "regulariser": self.regulariser.name,
                    "alpha": self.alpha, "iters": iters, "iterations": it, "tol": self.tol,
                    "plateau": self.plateau, "beta": self.beta,
                    "step_scale": self.step_scale,
                    "lam": lam0, "lam_final": lam_final, "lam_growth": self.lam_growth,
                    "lam_max": self.lam_max, "order": self.order, "data_term": self.data_term}
        return InversionResult(states[0], history, states, settings)


def invert_lifted(network, y, *, regulariser="tv", alpha=DEFAULT_ALPHA, iters=1000, **kwargs) -> InversionResult:
    """One-call form of :class:`LiftedInversion`: ``kwargs`` go to the constructor
    (``lam``, ``penalty``, ``beta``, ``step_scale``, ``tv_iters``, ``order``, ``method``, ``tol``,
    ``plateau``, ``data_term``, ...) or to
    :meth:`LiftedInversion.run` (``x_init``, ``x_true``, ``monitor_every``, ``progress``)."""
    run_keys = {"x_init", "x_true", "monitor_every", "progress", "callback", "desc"}
    run_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in run_keys}
    return LiftedInversion(network, regulariser, alpha, **kwargs).run(y, iters, **run_kw)
