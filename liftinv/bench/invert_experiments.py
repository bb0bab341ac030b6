r"""The inversion experiments of ``liftinv bench invert`` and ``demos/inversion.py``.

1. :func:`perceptron_experiment`: a random ReLU perceptron
   :math:`N(u) = \max(0, Wu + b)`, :math:`W\in\mathbb R^{m\times n^2}`, entries i.i.d.
   :math:`\mathcal N(0, 1)`, inverted with TV on natural :math:`n\times n` images by the
   single-layer PDHG, with :math:`\alpha = c\,\delta`.  The noise level is measured as
   in the theorem, :math:`\delta^2 = B_\Psi(f^\delta, Wu^\dagger + b)`, with
   :math:`f^\delta = \max(0, f + s\eta)`; the error is the Bregman distance
   :math:`D_J^{p}(u^\dagger, u_\alpha)`, :math:`p = -\mathrm{div}\,z\in\partial\mathrm{TV}(u_\alpha)`
   from the final dual variable (and the relative :math:`\ell^2` error).  Theory
   (Wang-Benning 2023): :math:`D_J = O(\delta)`, slope 1 on a log-log plot.
2. :func:`autoencoder_experiment`: the encoder of a lifted-trained autoencoder inverted
   from noisy codes, tile by tile, lifted versus gradient inversion at equal iterations.
3. :func:`features_experiment`: a trained network inverted from its output or from an
   intermediate layer's features.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from ..inversion.autoencoder import ENCODER_DEPTH, tile, untile
from ..inversion.gradient import invert_gradient
from ..inversion.lifted import invert_lifted
from ..inversion.noise import noisy_code
from ..inversion.single_layer import bregman_distance_tv, invert_single_layer
from ..metrics import psnr, ssim
from ..models.convert import prefix_network
from ..models.linear_maps import Dense
from ..models.network import Layer, LiftedNetwork
from ..utils.tv import div2d
from .tuning import search_grid


def square_crops(images, size: int) -> torch.Tensor:
    """Central square crops of ``(C, H, W)`` images, resized to ``size`` (area
    interpolation), stacked ``(B, C, size, size)``."""
    out = []
    for im in images:
        s = min(im.shape[-2:])
        top, left = (im.shape[-2] - s) // 2, (im.shape[-1] - s) // 2
        crop = im[:, top:top + s, left:left + s][None]
        out.append(F.interpolate(crop, size=(size, size), mode="area"))
    return torch.cat(out).clamp(0, 1)


def random_perceptron(size: int = 64, m: int = 512, seed: int = 0, device="cpu") -> LiftedNetwork:
    """:math:`\\max(0, Wu + b)` with i.i.d. standard normal :math:`W` and :math:`b`."""
    g = torch.Generator().manual_seed(seed)
    dense = Dense(size * size, m)
    with torch.no_grad():
        dense.weight.copy_(torch.randn(m, size * size, generator=g))
        dense.bias.copy_(torch.randn(m, generator=g))
    return LiftedNetwork([Layer(dense, "relu")], in_shape=(1, size, size)).to(device)


def perceptron_experiment(images, *, size: int = 64, m: int = 512, noise_scales=(0.3, 1, 3, 10, 30, 100),
                          alpha_per_delta: float = 0.01, iters: int = 2000, seed: int = 0, device="cpu",
                          ground_truth: str = "natural", alpha_source: float = 10.0, source_iters: int = 3000,
                          alpha_rule: str = "theory",
                          progress: bool = False) -> dict:
    r"""Error versus noise level for the random ReLU perceptron (module docstring).

    All (image, noise level) pairs are one batch, with a per-sample :math:`\alpha = c\delta`.
    ``ground_truth='natural'``: the images themselves (no source condition: with
    :math:`m < n^2` the error has a floor as :math:`\delta\to0`); ``'source'``: the TV
    inversion of their exact data at ``alpha_source``, which satisfies the source
    condition :math:`W^\top v^\dagger\in\partial\mathrm{TV}(u^\dagger)` by construction, with
    :math:`v^\dagger = (f - N(u^\dagger))/\alpha_{source}`; there ``alpha_rule='theory'`` uses the
    theorem's :math:`\alpha = \sqrt2\,\delta/\|v^\dagger\|` instead of ``alpha_per_delta``.
    Returns per-pair records and the least-squares slope of :math:`\log D_J` (and of the
    :math:`\ell^2` error) against :math:`\log\delta`.
    """
    net = random_perceptron(size, m, seed, device)
    u = square_crops(images, size).to(device)
    if ground_truth == "source":
        # u+ := the TV-regularised inversion of the natural image's exact data at alpha_source:
        # its optimality condition gives W^T v+ in dTV(u+), the theorem's source condition.
        with torch.no_grad():
            f_nat = net(u)
            u = invert_single_layer(net, f_nat, alpha=alpha_source, iters=source_iters, monitor_every=source_iters).x
            v_src = (f_nat - net(u)) / alpha_source  # W^T v_src in dTV(u): the source element
            c_theory = math.sqrt(2.0) / v_src.norm(dim=1)  # alpha = sqrt(2) delta / ||v+|| (theorem)
    elif ground_truth != "natural":
        raise ValueError(f"ground_truth must be 'natural' or 'source', got {ground_truth!r}")
    n_img, n_lev = u.shape[0], len(noise_scales)
    act, dense = net.activation(1), net.layer(1).linear
    with torch.no_grad():
        v_true = dense(u)
        f = act(v_true)
        g = torch.Generator().manual_seed(seed + 1)
        eta = torch.randn((n_lev,) + f.shape, generator=g).to(device)
        scales = torch.tensor(noise_scales, dtype=f.dtype, device=device).view(-1, 1, 1)
        f_delta = (f[None] + scales * eta).clamp_min(0).reshape(-1, m)  # level-major
        u_rep = u.repeat(n_lev, 1, 1, 1)
        v_rep = v_true.repeat(n_lev, 1)
        delta = act.penalty(f_delta, v_rep).sqrt()
    alpha = alpha_per_delta * delta
    if ground_truth == "source" and alpha_rule == "theory":
        alpha = c_theory.repeat(n_lev) * delta
    t0 = time.perf_counter()
    res = invert_single_layer(net, f_delta, alpha=alpha, regulariser="tv", iters=iters, x_true=u_rep,
                              monitor_every=max(iters // 10, 1), progress=progress)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        d_j = bregman_distance_tv(u_rep, res.x, -div2d(res.dual))
        l2 = (res.x - u_rep).flatten(1).norm(dim=1) / u_rep.flatten(1).norm(dim=1)
        p = psnr(res.x.clamp(0, 1), u_rep.clamp(0, 1))
    records = [{"image": int(i % n_img), "noise_scale": float(noise_scales[i // n_img]), "delta": float(delta[i]),
                "alpha": float(alpha[i]), "bregman_error": float(d_j[i]), "rel_l2_error": float(l2[i]),
                "psnr": float(p[i])} for i in range(u_rep.shape[0])]

    def slope(key):
        xs = [math.log(r["delta"]) for r in records if r[key] > 0]
        ys = [math.log(r[key]) for r in records if r[key] > 0]
        if len(xs) < 2:
            return float("nan")
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        return sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / max(sum((a - mx) ** 2 for a in xs), 1e-30)

    return {"settings": {"ground_truth": ground_truth, "alpha_source": alpha_source, "alpha_rule": alpha_rule,
                         "size": size, "m": m, "noise_scales": list(noise_scales), "alpha_per_delta": alpha_per_delta,
                         "iters": iters, "seed": seed, "n_images": n_img},
            "records": records, "slope_bregman": slope("bregman_error"), "slope_l2": slope("rel_l2_error"),
            "theory_slope_bregman": 1.0, "seconds": seconds, "history": res.history,
            "estimates": res.x.detach().cpu(), "truth": u_rep.cpu()}



def invert_tiles(enc: LiftedNetwork, image: torch.Tensor, y: torch.Tensor, method: dict, iters: int,
                 alpha: float, progress: bool = False):
    """Invert the codes ``y`` of the tiles of ``image`` with ``method`` (``{"kind": "lifted"|
    "adam"|"lbfgs", ...options}``); returns the reassembled image, the result and seconds."""
    p = enc.in_shape[-1]
    x = tile(image, p)
    opts = {k: v for k, v in method.items() if k not in ("kind", "label")}
    t0 = time.perf_counter()
    if method["kind"] == "lifted":
        res = invert_lifted(enc, y, regulariser="tv", alpha=alpha, iters=iters, x_true=x, plateau=0.0,
                            monitor_every=max(iters // 20, 1), progress=progress, **opts)  # (a fixed budget)
    else:
        res = invert_gradient(enc, y, regulariser="tv", alpha=alpha, iters=iters, method=method["kind"], x_true=x,
                              monitor_every=max(iters // 20, 1), progress=progress, **opts)
    seconds = time.perf_counter() - t0
    return untile(res.x.clamp(0, 1), image.shape), res, seconds


def _tile_crop(crop: int, patch: int, images) -> int:
    """The crop side: ``crop`` cut to the smallest image and to a multiple of the patch side;
    a clear error when no whole patch fits."""
    side = min([crop] + [min(im.shape[-2:]) for im in images]) // patch * patch
    if side < patch:
        raise ValueError(f"a crop of {crop} px of images as small as {min(min(im.shape[-2:]) for im in images)} px "
                         f"holds no whole {patch}x{patch} patch of the autoencoder: use larger images or --crop")
    return side


def tune_alphas(net: LiftedNetwork, images, *, levels, methods, grid, iters: int, crop: int = 64,
                seed: int = 0) -> dict:
    """For every noise level and method, the TV weight of ``grid`` (extended past an end while
    the best is there, :func:`~liftinv.bench.tuning.search_grid`) with the best mean PSNR on the
    central ``crop`` of each of ``images`` (*training* images, one ``(C, H, W)`` tensor or a list:
    the test images are never used for tuning; several crops make the choice less a matter of
    one picture).  Returns ``{(level, label): alpha}`` and the scores."""
    enc = prefix_network(net, ENCODER_DEPTH)
    dev = next(net.parameters()).device
    p = enc.in_shape[-1]
    images = [images] if torch.is_tensor(images) else list(images)
    crop = _tile_crop(crop, p, images)
    imgs = []
    for image in images:
        top, left = (image.shape[-2] - crop) // 2, (image.shape[-1] - crop) // 2
        imgs.append(image[:, top:top + crop, left:left + crop].to(dev))
    with torch.no_grad():
        codes = [enc(tile(img, p)) for img in imgs]
    best, scores = {}, []
    for j, level in enumerate(levels):
        ys = [noisy_code(code, level, seed + 7 + j + 100 * k, enc.activation(enc.depth))
              for k, code in enumerate(codes)]
        for meth in methods:
            def score(alpha, meth=meth, ys=ys):
                return sum(float(psnr(invert_tiles(enc, img, y, meth, iters, alpha)[0], img))
                           for img, y in zip(imgs, ys)) / len(imgs)

            best[(level, meth["label"])], tried = search_grid(score, grid)
            scores += [{"level": level, "method": meth["label"], "alpha": a, "psnr": v} for a, v in tried.items()]
    return best, scores


def autoencoder_experiment(net: LiftedNetwork, images, names, *, crop: int = 64, levels=(0.01, 0.05, 0.1),
                           alphas=None, methods=None, iters: int = 300, seed: int = 0, progress: bool = False) -> dict:
    """Lifted versus gradient inversion of the encoder (prefix of depth 3) from noisy codes.

    ``alphas``: one TV weight per noise level, or a dict ``{(level, label): alpha}`` (from
    :func:`tune_alphas`).  Every method gets the same noisy codes, initialisation
    (mid-grey), regulariser and iteration budget.
    """
    enc = prefix_network(net, ENCODER_DEPTH)
    dev = next(net.parameters()).device
    p = enc.in_shape[-1]
    crop = _tile_crop(crop, p, images)
    methods = methods or [{"label": "lifted BCD", "kind": "lifted"}, {"label": "gradient (Adam)", "kind": "adam"},
                          {"label": "gradient (L-BFGS)", "kind": "lbfgs"}]
    alphas = alphas or [1e-3] * len(levels)
    if not isinstance(alphas, dict):
        alphas = {(level, m["label"]): a for level, a in zip(levels, alphas) for m in methods}
    records, panels = [], {}
    for i, (im, name) in enumerate(zip(images, names)):
        top, left = (im.shape[-2] - crop) // 2, (im.shape[-1] - crop) // 2
        img = im[:, top:top + crop, left:left + crop].to(dev)
        with torch.no_grad():
            code = enc(tile(img, p))
        for j, level in enumerate(levels):
            y = noisy_code(code, level, seed + 1000 * i + j, enc.activation(enc.depth))
            for meth in methods:
                alpha = alphas[(level, meth["label"])]
                rec_img, res, secs = invert_tiles(enc, img, y, meth, iters, alpha, progress)
                records.append({"image": name, "level": level, "alpha": alpha, "method": meth["label"],
                                "iters": iters, "seconds": secs, "psnr": float(psnr(rec_img, img)),
                                "ssim": float(ssim(rec_img, img)), "misfit": res.final.get("misfit"),
                                "violation": res.final.get("violation"),
                                "psnr_curve": [(h["iteration"], h.get("psnr")) for h in res.history]})
                if i == 0:
                    panels[(level, meth["label"])] = rec_img.cpu()
        if i == 0:
            panels["truth"] = img.cpu()
    return {"settings": {"crop": crop, "levels": list(levels), "iters": iters,
                         "alphas": [{"level": k[0], "method": k[1], "alpha": a} for k, a in alphas.items()],
                         "methods": methods, "seed": seed}, "records": records, "panels": panels}


def features_experiment(net: LiftedNetwork, images, names, *, layers, alpha: float = 1e-3, iters: int = 300,
                        crop: int = 64, methods=None, progress: bool = False) -> dict:
    """Invert ``net`` (tile-wise on ``crop`` crops) from the noiseless features of each
    layer in ``layers`` (layer = depth: the output), lifted versus gradient."""
    dev = next(net.parameters()).device
    p = net.in_shape[-1]
    crop = _tile_crop(crop, p, images)
    methods = methods or [{"label": "lifted BCD", "kind": "lifted"}, {"label": "gradient (Adam)", "kind": "adam"}]
    records = []
    for im, name in zip(images, names):
        top, left = (im.shape[-2] - crop) // 2, (im.shape[-1] - crop) // 2
        img = im[:, top:top + crop, left:left + crop].to(dev)
        for layer in layers:
            sub = prefix_network(net, layer)
            with torch.no_grad():
                y = sub(tile(img, p))
            for meth in methods:
                rec_img, res, secs = invert_tiles(sub, img, y, meth, iters, alpha, progress)
                records.append({"image": name, "layer": layer, "method": meth["label"], "iters": iters,
                                "seconds": secs, "psnr": float(psnr(rec_img, img)), "ssim": float(ssim(rec_img, img)),
                                "misfit": res.final.get("misfit")})
    return {"settings": {"layers": list(layers), "alpha": alpha, "iters": iters, "crop": crop}, "records": records}


def denoiser_experiment(train_images, test_images, names, *, sigma: float = 25 / 255, depth: int = 4,
                        features: int = 16, budget: float = 20.0, crop: int = 64, layers=None, iters: int = 300,
                        methods=None, seed: int = 0, device=None, progress: bool = False) -> dict:
    """Train a DFB-PNN denoiser by lifted BCD, then recover its *noisy input* z from its output
    :math:`N(z)` or from the dual features of an intermediate layer (no regulariser:
    z is noise-like), lifted versus gradient inversion; PSNR against z (unclamped)."""
    from ..denoising.models import default_arch
    from ..denoising.task import describe
    from ..models.dfb import DFBPNN
    from ..restoration import TrainConfig, train_network

    arch = default_arch("dfb", 1, 40, depth, features)
    t0 = time.perf_counter()
    config = TrainConfig(trainer="lifted", budget=budget, seed=seed, device=None if device is None else str(device))
    trained, _ = train_network(arch, describe(sigma), train_images, config, progress=progress)
    train_seconds = time.perf_counter() - t0
    net = DFBPNN((1, crop, crop), depth=depth, features=features, nu=arch["nu"]).to(next(trained.parameters()).device)
    net.load_state_dict(trained.state_dict())
    net.refresh(n_iter=30)
    dev = next(net.parameters()).device
    layers = layers or [1, max(depth // 2, 1), net.depth]
    methods = methods or [{"label": "lifted (apg)", "kind": "lifted", "lam": 1.0},
                          {"label": "lifted BCD", "kind": "lifted", "method": "bcd", "beta": 0.95, "lam": 0.3},
                          {"label": "gradient (Adam)", "kind": "adam", "lr": 0.03},
                          {"label": "gradient (L-BFGS)", "kind": "lbfgs"}]
    records = []
    for i, (im, name) in enumerate(zip(test_images, names)):
        top, left = (im.shape[-2] - crop) // 2, (im.shape[-1] - crop) // 2
        clean = im[None, :, top:top + crop, left:left + crop].to(dev)
        g = torch.Generator().manual_seed(seed + 100 + i)
        z = clean + sigma * torch.randn(clean.shape, generator=g).to(dev)
        for layer in layers:
            sub = prefix_network(net, layer)
            with torch.no_grad():
                y = sub(z)
            for meth in methods:
                opts = {k: v for k, v in meth.items() if k not in ("kind", "label")}
                t1 = time.perf_counter()
                if meth["kind"] == "lifted":
                    res = invert_lifted(sub, y, regulariser="none", alpha=0.0, iters=iters, plateau=0.0, **opts)
                else:
                    res = invert_gradient(sub, y, regulariser="none", alpha=0.0, iters=iters, method=meth["kind"],
                                          **opts)
                records.append({"image": name, "layer": layer, "method": meth["label"], "iters": iters,
                                "seconds": time.perf_counter() - t1,
                                "psnr_vs_input": float(psnr(res.x, z, clip=False, unit_ref=False)),
                                "misfit": res.final.get("misfit")})
        with torch.no_grad():
            records.append({"image": name, "layer": "denoiser output vs clean", "method": "-",
                            "psnr_vs_input": float(psnr(net(z).clamp(0, 1), clean))})
    return {"settings": {"sigma": sigma, "depth": depth, "features": features, "budget": budget, "crop": crop,
                         "layers": list(layers), "iters": iters, "train_seconds": train_seconds}, "records": records}
