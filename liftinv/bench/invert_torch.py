"""``liftinv bench invert``, case 5: a network trained *outside* liftinv, inverted from noisy codes.

A plain PyTorch convolutional autoencoder (the encoder: five ``nn.Conv2d`` with ReLUs, two of
stride 2, 32x32 -> 8x8x8 codes; the decoder: ``nn.ConvTranspose2d``) is trained by ordinary
backprop (torch's Adam, a fixed number of steps, seeded) on 32x32 patches of the embedded
*training* images.  Its encoder, frozen, is converted by :func:`~liftinv.models.from_module`
and inverted from the codes of 32x32 crops of the *test* images with relative Gaussian noise
(:func:`~liftinv.inversion.noise.noisy_code`), TV regularised, by the lifted solver (its
default, ``method='apg'``, and block coordinate descent with inertia, ``method='bcd'``), L-BFGS and
Adam.  Every method's TV weight (and, for the lifted
solver, its variant: the default fixed ``lam``, continuation, or the output activation lifted) is tuned per noise
level on crops of the training images, on a grid extended past its end while the best weight is
there (:func:`~liftinv.bench.tuning.search_grid`).  Each run records PSNR against iterations and against
seconds; the summary gives the final PSNR and the PSNR each method had reached at the time the
fastest method finished.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from tqdm.auto import tqdm

from ..inversion import from_module, invert_gradient, invert_lifted
from ..inversion.noise import noisy_code
from .tuning import search_grid

PATCH = 32


def torch_autoencoder() -> tuple[nn.Sequential, nn.Sequential]:
    """The encoder and decoder (plain ``nn.Sequential``, torch's default initialisation)."""
    enc = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 4, stride=2, padding=1),
                        nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(32, 32, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(32, 8, 3, padding=1),
                        nn.ReLU())
    dec = nn.Sequential(nn.ConvTranspose2d(8, 32, 4, stride=2, padding=1), nn.ReLU(),
                        nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(16, 1, 3, padding=1))
    return enc, dec


def train_torch_autoencoder(images, *, steps: int = 1500, batch: int = 32, lr: float = 2e-3, seed: int = 0,
                            device="cpu", progress: bool = False) -> tuple[nn.Sequential, dict]:
    """Train :func:`torch_autoencoder` by plain backprop (MSE, Adam) for ``steps`` steps on
    random 32x32 patches of ``images`` (stride 8); returns the frozen encoder (eval mode) and
    ``{"steps", "seconds", "final_mse"}``."""
    from ..data.patches import extract_patches

    torch.manual_seed(seed)
    enc, dec = torch_autoencoder()
    enc, dec = enc.to(device), dec.to(device)
    patches = extract_patches(images, PATCH, stride=8).to(device)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    t0, loss = time.perf_counter(), torch.zeros(())
    for _ in tqdm(range(steps), desc="torch autoencoder", disable=not progress, leave=False):
        x = patches[torch.randint(0, patches.shape[0], (batch,), generator=gen).to(device)]
        loss = (dec(enc(x)) - x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    enc.eval()
    for q in enc.parameters():
        q.requires_grad_(False)
    return enc, {"steps": steps, "seconds": time.perf_counter() - t0, "final_mse": float(loss.detach())}


def random_crops(images, per_image: int, seed: int) -> torch.Tensor:
    """``per_image`` random 32x32 crops of every image, ``(N, 1, 32, 32)`` (seeded)."""
    gen, out = torch.Generator().manual_seed(seed), []
    for im in images:
        h, w = im.shape[-2:]
        for _ in range(per_image):
            top = int(torch.randint(0, h - PATCH + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - PATCH + 1, (1,), generator=gen))
            out.append(im[:1, top:top + PATCH, left:left + PATCH])
    return torch.stack(out)


def _invert(net, y, x_true, method: dict, alpha: float, iters: int, monitor_every: int):
    opts = {k: v for k, v in method.items() if k not in ("label", "kind")}
    common = dict(regulariser="tv", alpha=alpha, iters=iters, x_true=x_true, monitor_every=monitor_every)
    if method["kind"] == "lifted":
        return invert_lifted(net, y, tol=0.0, plateau=0.0, **common, **opts)
    return invert_gradient(net, y, method=method["kind"], **common, **opts)


METHODS = ({"label": "lifted (apg)", "kind": "lifted"},
           {"label": "lifted BCD", "kind": "lifted", "method": "bcd", "beta": 0.95, "lam": 0.3},
           {"label": "L-BFGS", "kind": "lbfgs"}, {"label": "Adam", "kind": "adam", "lr": 0.03})
#: the lifted solver's variants tried in the tuning: continuation to 1e3, fixed lam (the default) and
#: fixed lam with the output activation lifted (``data_term='lifted'``: the Gaussian misfit of the codes)
SCHEDULES = ({"lam": 1.0, "lam_growth": 1.02}, {"lam": 1.0, "lam_growth": 1.0},
             {"lam": 1.0, "lam_growth": 1.0, "data_term": "lifted"})


def torch_encoder_experiment(encoder: nn.Module, train_crops, test_crops, *, levels=(0.0, 0.01, 0.05, 0.1),
                             grid=(1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3), iters: int = 400, tune_iters: int = 200,
                             monitor_every: int = 10, seed: int = 0, progress: bool = False) -> dict:
    """Tune on ``train_crops``, then invert the noisy codes of ``test_crops`` with every method
    (module docstring).  Returns settings, the tuning scores, one record per (level, method) with
    its PSNR curves, and the summary rows."""
    net = from_module(encoder, (1, PATCH, PATCH))
    dev = next(net.parameters()).device
    train_crops, test_crops = train_crops.to(dev), test_crops.to(dev)
    with torch.no_grad():
        code_train, code_test = net(train_crops), net(test_crops)
    tuning, records, summary = [], [], []
    jobs = [(lv, m) for lv in levels for m in METHODS]
    for level, meth in tqdm(jobs, desc="torch encoder", disable=not progress, leave=False):
        i = levels.index(level)
        out = net.activation(net.depth)  # the codes' range
        y_tr = noisy_code(code_train, level, seed + 11 + i, out) if level else code_train
        y_te = noisy_code(code_test, level, seed + 31 + i, out) if level else code_test
        variants = [{**meth, **s} for s in SCHEDULES] if meth["label"] == "lifted (apg)" else [meth]
        best = None
        for var in variants:
            def score(alpha, var=var, y_tr=y_tr):
                return _invert(net, y_tr, train_crops, var, alpha, tune_iters, tune_iters).final["psnr"]

            alpha, tried = search_grid(score, grid)
            options = {k: var[k] for k in ("lam", "lam_growth", "data_term") if k in var}
            tuning += [{"level": level, "method": meth["label"], "alpha": a, "psnr": v, **options}
                       for a, v in tried.items()]
            if best is None or tried[alpha] > best[0]:
                best = (tried[alpha], alpha, var)
        _, alpha, var = best
        res = _invert(net, y_te, test_crops, var, alpha, iters, monitor_every)
        records.append({"level": level, "method": meth["label"], "alpha": alpha,
                        "options": {k: v for k, v in var.items() if k not in ("label", "kind")},
                        "curve": [{"iteration": h["iteration"], "seconds": h["seconds"], "psnr": h["psnr"]}
                                  for h in res.history], "final": dict(res.final)})
    for level in levels:
        rows = [r for r in records if r["level"] == level]
        t_common = min(r["curve"][-1]["seconds"] for r in rows)
        for r in rows:
            at = max((c["psnr"] for c in r["curve"] if c["seconds"] <= t_common), default=float("nan"))
            summary.append({"level": level, "method": r["method"], "alpha": r["alpha"],
                            "final_psnr": r["final"]["psnr"], "seconds": r["curve"][-1]["seconds"],
                            "psnr_at_common_time": at, "common_time": t_common})
    return {"settings": {"levels": list(levels), "grid": list(grid), "iters": iters, "tune_iters": tune_iters,
                         "train_crops": int(train_crops.shape[0]), "test_crops": int(test_crops.shape[0]),
                         "methods": list(METHODS), "schedules": list(SCHEDULES), "seed": seed},
            "tuning": tuning, "records": records, "summary": summary}


def plot_torch_curves(result: dict, path) -> None:
    """PSNR against seconds (top) and iterations (bottom), one column per noise level."""
    from ..restoration.report import pyplot, save_figure

    plt = pyplot()
    levels = result["settings"]["levels"]
    fig, ax = plt.subplots(2, len(levels), figsize=(3.6 * len(levels), 6.4), squeeze=False)
    for j, level in enumerate(levels):
        for k, r in enumerate(r for r in result["records"] if r["level"] == level):
            c = r["curve"]
            ax[0, j].plot([p["seconds"] for p in c], [p["psnr"] for p in c], color=f"C{k}", label=r["method"])
            ax[1, j].plot([p["iteration"] for p in c], [p["psnr"] for p in c], color=f"C{k}", label=r["method"])
        ax[0, j].set_title(f"code noise {level:g}")
        ax[0, j].set_xlabel("seconds"), ax[1, j].set_xlabel("iterations (evaluations for L-BFGS)")
    ax[0, 0].set_ylabel("PSNR (dB)"), ax[1, 0].set_ylabel("PSNR (dB)"), ax[0, 0].legend(fontsize=7)
    save_figure(fig, path, bbox_inches="tight")


def markdown_lines(result: dict, train_info: dict) -> list[str]:
    s = result["settings"]
    lines = [f"## 5. A conv encoder trained by plain torch backprop ({train_info['steps']} Adam steps, "
             f"{train_info['seconds']:.0f} s, final MSE {train_info['final_mse']:.2e}), inverted from noisy codes "
             f"of {s['test_crops']} 32x32 test crops, TV, {s['iters']} iterations; alpha (and the lifted "
             f"variant) tuned on {s['train_crops']} training crops", "",
             "| noise | method | alpha | options | final PSNR (dB) | seconds | PSNR at the common time (dB) |",
             "|---|---|---|---|---|---|---|"]
    for row, rec in zip(result["summary"], result["records"]):
        opts = ", ".join(f"{k}={v}" for k, v in rec["options"].items()) or "-"
        lines.append(f"| {row['level']:g} | {row['method']} | {row['alpha']:g} | {opts} | {row['final_psnr']:.2f} | "
                     f"{row['seconds']:.1f} | {row['psnr_at_common_time']:.2f} (at {row['common_time']:.1f} s) |")
    return lines + ["", "Figure: invert_torch_curves.png (PSNR against seconds and against iterations).", ""]
