"""Tests of liftinv.inversion: conversion, regularisers, lifted / single-layer / gradient inversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from liftinv.activations import NotProximalError
from liftinv.inversion import (
    TV,
    Box,
    ConversionError,
    LiftedInversion,
    Tikhonov,
    as_lifted,
    div2d,
    from_sequential,
    grad2d,
    invert_gradient,
    invert_lifted,
    invert_single_layer,
    prefix_network,
)
from liftinv.inversion.result import data_misfit
from liftinv.metrics import psnr


def _injective_mlp(d=64, h=128, seed=0):
    torch.manual_seed(seed)
    seq = nn.Sequential(nn.Linear(d, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, h))
    for mod in seq:
        if isinstance(mod, nn.Linear):
            nn.init.orthogonal_(mod.weight)
            nn.init.uniform_(mod.bias, -0.1, 0.1)
    return seq


def test_conversion_matches_sequential_forward():
    seq = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                        nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 20), nn.Softshrink(0.1), nn.Linear(20, 10),
                        nn.Hardtanh(), nn.Sigmoid())
    with torch.no_grad():
        seq[1].running_mean.uniform_(-0.5, 0.5)
        seq[1].running_var.uniform_(0.5, 2.0)
        seq[1].weight.uniform_(0.5, 1.5)
    seq.eval()
    net = from_sequential(seq, (1, 8, 8))
    x = torch.rand(6, 1, 8, 8)
    assert net.depth == 5  # conv+bn+relu, linear+tanh, linear+softshrink, linear+hardtanh, identity->sigmoid
    torch.testing.assert_close(net(x), seq(x), atol=1e-5, rtol=1e-5)
    # weights are copied, not shared
    with torch.no_grad():
        seq[0].weight.add_(1.0)
    assert not torch.allclose(net(x), seq(x))


def test_conversion_errors_name_the_layer():
    with pytest.raises(NotProximalError, match=r"module 1 \(nn.GELU\).*not monotone"):
        from_sequential(nn.Sequential(nn.Linear(4, 4), nn.GELU()), (4,))
    bn = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU())
    with pytest.raises(ConversionError, match=r"module 1 \(nn.BatchNorm1d\) is in training mode"):
        from_sequential(bn, (4,))
    from_sequential(bn.eval(), (4,))  # eval mode folds
    with pytest.raises(ConversionError, match=r"module 1 \(nn.MaxPool2d\)"):
        from_sequential(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2)), (1, 8, 8))


#: the lifted solvers with their settings for exact data (apg: no continuation, see docs/inversion.md)
SOLVERS = {"bcd": {"method": "bcd", "beta": 0.8}, "apg": {"lam_growth": 1.0}}


@pytest.mark.parametrize("solver", SOLVERS)
def test_noiseless_inversion_of_injective_network_reaches_40db(solver):
    net = from_sequential(_injective_mlp(), (1, 8, 8))
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        y = net(x)
    res = invert_lifted(net, y, regulariser="none", alpha=0.0, iters=300, x_true=x, **SOLVERS[solver])
    assert float(psnr(res.x, x).mean()) >= 40.0
    assert res.final["violation"] < 1e-6


def test_lifted_objective_decreases_monotonically_without_inertia():
    net = from_sequential(_injective_mlp(), (1, 8, 8))
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        y = net(x) + 0.01 * torch.randn(4, 128)
    res = LiftedInversion(net, Tikhonov(), alpha=0.01, beta=0.0, method="bcd").run(y, iters=100, monitor_every=1)
    obj = np.array(res.history.column("objective"))
    assert np.all(np.diff(obj) <= 1e-6 * abs(obj[0]))
    assert obj[-1] < 0.5 * obj[0]


def test_tv_prox_matches_reference_and_is_optimal():
    from skimage.restoration import denoise_tv_chambolle

    w = torch.rand(1, 1, 20, 24, dtype=torch.float64)
    p = TV().prox(w, 0.1, iters=3000)
    ref = torch.from_numpy(denoise_tv_chambolle(w[0, 0].numpy(), weight=0.1, eps=1e-10, max_num_iter=20000))
    assert (p[0, 0] - ref).abs().max() < 1e-3

    def objective(z):
        return float(0.5 * (z - w).pow(2).sum() + 0.1 * TV().value(z).sum())

    assert objective(p) <= objective(ref[None, None]) + 1e-6
    for _ in range(5):  # no random perturbation does better
        assert objective(p) <= objective(p + 1e-3 * torch.randn_like(p))


def test_grad_div_adjoint_and_simple_proxes():
    x, q = torch.randn(2, 3, 7, 5), torch.randn(2, 3, 2, 7, 5)
    torch.testing.assert_close((grad2d(x) * q).sum(), -(x * div2d(q)).sum())
    w = torch.randn(3, 1, 4, 4)
    torch.testing.assert_close(Tikhonov().prox(w, 1.0), w / 2)
    assert Box().prox(w, 1.0).min() >= 0 and Box().prox(w, 1.0).max() <= 1


@pytest.mark.parametrize("solver", SOLVERS)
def test_prefix_inversion_recovers_input_from_intermediate_features(solver):
    net = from_sequential(_injective_mlp(), (1, 8, 8))
    sub = prefix_network(net, 2)
    assert sub.depth == 2 and sub.out_shape == (128,)
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        feats = sub(x)
        torch.testing.assert_close(feats, net.forward_states(x)[0][2])
    res = invert_lifted(sub, feats, regulariser="box", alpha=1.0, iters=200, **SOLVERS[solver])
    assert float(psnr(res.x, x).mean()) >= 40.0


@pytest.mark.parametrize("solver", [*SOLVERS, "adam", "lbfgs"])
def test_box_is_a_constraint_whatever_alpha(solver):
    """regulariser='box' with alpha=0 still keeps the estimate in [0, 1] (it used to be dropped by
    the lifted solvers at alpha=0 while the gradient methods projected)."""
    torch.manual_seed(0)
    net = from_sequential(nn.Sequential(nn.Linear(16, 8)), (16,))
    with torch.no_grad():
        y = net(3 * torch.ones(2, 16))  # its least-squares pre-images leave the box
    if solver in SOLVERS:
        res = invert_lifted(net, y, regulariser="box", alpha=0.0, iters=30, **SOLVERS[solver])
    else:
        opts = {"iters": 100, "method": solver, "lr": 0.1 if solver == "adam" else None}
        res = invert_gradient(net, y, regulariser="box", alpha=0.0, **opts)
        free = invert_gradient(net, y, regulariser="none", alpha=0.0, **opts)
        assert float(free.x.max()) > 1.05  # without the box the estimate does leave it
    assert float(res.x.min()) >= 0.0 and float(res.x.max()) <= 1.0


def test_single_layer_pdhg_decreases_objective_and_fits_data():
    torch.manual_seed(1)
    seq = nn.Sequential(nn.Linear(64, 96), nn.ReLU())
    net = from_sequential(seq, (1, 8, 8))
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, 2:6, 2:6] = 1.0  # piecewise constant: TV-friendly
    with torch.no_grad():
        y = net(x)
    res = invert_single_layer(net, y, alpha=torch.tensor([1e-3, 1e-3]), iters=2000, x_true=x, monitor_every=100)
    obj = res.history.column("objective")
    assert obj[-1] < 0.05 * obj[0]
    assert res.final["psnr"] > 25.0


def test_gradient_baseline_and_lifted_share_interface():
    net = from_sequential(_injective_mlp(), (1, 8, 8))
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        y = net(x)
    for method in ("adam", "lbfgs"):
        res = invert_gradient(net, y, regulariser="tv", alpha=1e-4, iters=100, method=method, x_true=x)
        assert res.x.shape == x.shape and res.history[-1]["objective"] < res.history[0]["objective"]
    assert all(p.requires_grad for p in net.parameters())  # restored


def test_lifted_inversion_on_device(device):
    net = from_sequential(_injective_mlp(), (1, 8, 8)).to(device)
    x = torch.rand(4, 1, 8, 8, device=device)
    with torch.no_grad():
        y = net(x)
    res = invert_lifted(net, y, regulariser="tv", alpha=1e-4, iters=100, **SOLVERS["bcd"])
    assert res.x.device.type == device.type
    assert float(psnr(res.x, x).mean()) > 30.0


@pytest.mark.parametrize("solver", [[], ["--solver", "bcd", "--beta", "0.9"],
                                    ["--data-term", "lifted", "--noise", "0.05"]], ids=["apg", "bcd", "lifted-output"])
def test_cli_invert_on_autoencoder_checkpoint(tmp_path, solver, capsys, monkeypatch):
    from liftinv.checkpoint import save_checkpoint
    from liftinv.cli import main
    from liftinv.data import load_image, save_image
    from liftinv.inversion import autoencoder_arch, build_autoencoder, lifted
    from liftinv.inversion.autoencoder import untile

    arch = autoencoder_arch(16, (4, 8), 32, 64)
    save_checkpoint(tmp_path / "ae.pt", arch=arch, network=build_autoencoder(arch))
    save_image(tmp_path / "in.png", torch.rand(1, 32, 32))
    results, run = [], lifted.LiftedInversion.run
    monkeypatch.setattr(lifted.LiftedInversion, "run", lambda self, *a, **k: results.append(run(self, *a, **k))
                        or results[-1])
    rc = main(["invert", "--checkpoint", str(tmp_path / "ae.pt"), "--layer", "1", "--input", str(tmp_path / "in.png"),
               "-o", str(tmp_path / "out.png"), "--iters", "20", "--no-progress", *solver])
    assert rc == 0 and len(results) == 1
    res = results[0]
    assert res.settings["iterations"] > 0 and res.history[-1]["objective"] < res.history[0]["objective"]
    assert res.settings["data_term"] == ("lifted" if "--data-term" in solver else "bregman")
    written = load_image(tmp_path / "out.png")  # the estimate itself (its 16x16 patches), in 8 bits
    estimate = untile(res.x.clamp(0, 1), (1, 32, 32))
    assert written.shape == (1, 32, 32) and float((written - estimate).abs().max()) <= 0.5 / 255 + 1e-6
    if not solver:  # --beta belongs to --solver bcd
        rc = main(["invert", "--checkpoint", str(tmp_path / "ae.pt"), "--layer", "1", "--input",
                   str(tmp_path / "in.png"), "-o", str(tmp_path / "out2.png"), "--beta", "0.9", "--no-progress"])
        assert rc != 0 and "--solver bcd" in capsys.readouterr().err and not (tmp_path / "out2.png").exists()


_USER_NETWORK = """
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 4, stride=2, padding=1),
                                  nn.ReLU())

    def forward(self, x):
        return self.body(x)


def pooled():
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


number = 3
"""


def test_cli_inverts_a_network_of_the_users_own_from_an_image_or_from_saved_features(tmp_path, capsys):
    """--module FILE.py:NAME (+ --weights) converts the user's network; --features inverts saved
    features of one input of --in-shape, --clean scores the estimate."""
    from liftinv.cli import main
    from liftinv.data import load_image, save_image

    (tmp_path / "mynet.py").write_text(_USER_NETWORK)
    namespace = {}
    exec(_USER_NETWORK, namespace)  # the same class, to save its weights and features
    torch.manual_seed(0)
    encoder = namespace["Encoder"]()
    torch.save(encoder.state_dict(), tmp_path / "enc.pt")
    t = torch.linspace(0, 3, 16)
    x = (0.5 + 0.3 * torch.sin(t)[:, None] * torch.cos(2 * t)[None, :])[None, None]  # smooth, in [0.2, 0.8]
    save_image(tmp_path / "x.png", x[0])
    x = load_image(tmp_path / "x.png")[None]  # as 8 bits
    with torch.no_grad():
        torch.save(encoder(x)[0], tmp_path / "codes.pt")
    spec, common = f"{tmp_path / 'mynet.py'}:Encoder", ["--weights", str(tmp_path / "enc.pt"), "--no-progress"]
    assert main(["invert", "--module", spec, *common, "--input", str(tmp_path / "x.png"), "-o",
                 str(tmp_path / "a.png"), "--alpha", "1e-4", "--iters", "100"]) == 0
    out = capsys.readouterr().out
    assert "inverted the output of Encoder (lifted" in out and "PSNR" in out
    assert float(psnr(load_image(tmp_path / "a.png")[None], x)) > 25  # measured 28.5 dB (L-BFGS, 300: 38.7)
    assert main(["invert", "--module", spec, *common, "--features", str(tmp_path / "codes.pt"), "--in-shape", "1",
                 "16", "16", "--clean", str(tmp_path / "x.png"), "--method", "lbfgs", "--alpha", "1e-4", "-o",
                 str(tmp_path / "b.png")]) == 0
    assert "PSNR" in capsys.readouterr().out
    assert float(psnr(load_image(tmp_path / "b.png")[None], x)) > 25
    # mistakes: the form of --module (an option error), a missing name, a layer that does not convert,
    # weights that do not fit, features of the wrong shape, --features with a liftinv checkpoint
    bad = [(["--module", str(tmp_path / "mynet.py"), "--input", "x.png"], 2, "expected FILE.py:NAME"),
           (["--module", f"{tmp_path / 'mynet.py'}:Decoder", "--input", str(tmp_path / "x.png")], 1,
            "defines no 'Decoder' (modules there: ['Encoder'])"),
           (["--module", f"{tmp_path / 'mynet.py'}:number", "--input", str(tmp_path / "x.png")], 1,
            "number is a int, not a module"),
           (["--module", f"{tmp_path / 'mynet.py'}:pooled", "--input", str(tmp_path / "x.png")], 1,
            "nn.MaxPool2d"),
           (["--module", f"{tmp_path / 'mynet.py'}:pooled", "--weights", str(tmp_path / "enc.pt"), "--input",
             str(tmp_path / "x.png")], 1, "does not fit pooled"),
           (["--module", spec, "--features", str(tmp_path / "codes.pt"), "--in-shape", "1", "8", "8"], 1,
            r"has shape (8, 8, 8); the network's output for one input of this shape is (8, 4, 4)"),
           (["--module", spec, "--features", str(tmp_path / "codes.pt")], 2, "--features needs --in-shape"),
           (["--checkpoint", "ae.pt", "--layer", "1", "--features", str(tmp_path / "codes.pt")], 2,
            "--features goes with --module")]
    for argv, status, says in bad:
        assert main(["invert", *argv, "-o", str(tmp_path / "c.png"), "--no-progress"]) == status, argv
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, err
    assert not (tmp_path / "c.png").exists()
    # a class without --weights runs with its constructor's (random) weights: said, not silent
    assert main(["invert", "--module", spec, "--input", str(tmp_path / "x.png"), "-o", str(tmp_path / "d.png"),
                 "--iters", "2", "--no-progress"]) == 0
    assert "names a class and no --weights are given" in capsys.readouterr().out


# -- the accelerated joint solver ('apg', the default for the Bregman penalty) -----------------
def _plain_relu_encoder(seed=0):  # 64 inputs -> 64 codes (4, 4, 4), a plain nn.Sequential
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 4, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 4, 3, padding=1), nn.ReLU())


def _relu_encoder(seed=0):  # the same, converted, for the checks of y
    return from_sequential(_plain_relu_encoder(seed), (1, 8, 8))


def test_apg_is_the_default_and_reaches_a_lower_objective_than_bcd_at_fixed_lambda():
    net = from_sequential(_injective_mlp(16, 32), (16,))
    torch.manual_seed(1)
    y = net(torch.rand(4, 16)).detach()
    kw = dict(alpha=0.01, lam=1.0, lam_growth=1.0, tol=0.0)
    apg = LiftedInversion(net, Tikhonov(), **kw)
    assert apg.method == "apg"
    a = apg.run(y, iters=150).final["objective"]
    b = LiftedInversion(net, Tikhonov(), method="bcd", **kw).run(y, iters=150).final["objective"]
    assert a < b


def test_an_estimate_that_does_not_explain_y_through_the_network_is_named():
    """On a deep residual network (deepinv's DnCNN) the lifted objective can fall while the network's
    own misfit does not: the run warns, naming both objectives and the remedies; a run that fits
    y through the network (a small encoder) does not warn."""
    import warnings

    from deepinv.models import DnCNN

    torch.manual_seed(0)
    net = as_lifted(DnCNN(in_channels=1, out_channels=1, pretrained=None, depth=8).eval(), in_shape=(1, 12, 12))
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        y = net(x)
    with pytest.warns(RuntimeWarning, match=r"the network's own misfit and prior .* raise iters"):
        invert_lifted(net, y, iters=100)
    encoder = from_sequential(_injective_mlp(16, 32), (16,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        invert_lifted(encoder, encoder(torch.rand(2, 16)).detach(), regulariser="none", alpha=0.0, iters=100)


def test_apg_takes_a_diagonal_metric_from_a_step_subclass():
    """A tensor L_m on a hidden block (a diagonal metric) broadcasts through the step, the prox and
    the backtracking bound: constant tensors give the scalar run's iterates."""
    from liftinv.inversion.accelerated import JointStep

    class TensorStep(JointStep):
        def lipschitz(self):
            lips = super().lipschitz()
            return lips[:1] + [torch.full((1,) + self.net.state_shapes[m], lip) for m, lip in enumerate(lips) if m]

    class TensorInversion(LiftedInversion):
        step_class = TensorStep

    net = from_sequential(_injective_mlp(16, 32), (16,))
    torch.manual_seed(3)
    y = net(torch.rand(3, 16)).detach()
    kw = dict(alpha=0.01, lam=1.0, tol=0.0)
    a = LiftedInversion(net, Tikhonov(), **kw).run(y, iters=40)
    b = TensorInversion(net, Tikhonov(), **kw).run(y, iters=40)
    assert b.final["objective"] < b.history[0]["objective"]
    for sa, sb in zip(a.states, b.states):
        torch.testing.assert_close(sa, sb, rtol=1e-4, atol=1e-5)


def test_apg_recovers_the_input_of_an_injective_network_and_continuation_closes_the_constraints():
    net = from_sequential(_injective_mlp(16, 32), (16,))
    torch.manual_seed(2)
    x = torch.rand(3, 16)
    y = net(x).detach()
    fixed = invert_lifted(net, y, regulariser="none", alpha=0.0, iters=600, x_true=x, lam=1.0, lam_growth=1.0)
    grown = invert_lifted(net, y, regulariser="none", alpha=0.0, iters=600, x_true=x, lam=1.0, lam_growth=1.02)
    assert fixed.settings["solver"] == grown.settings["solver"] == "apg"
    assert fixed.final["psnr"] > 45 and grown.final["psnr"] > 35  # from 12.5 dB at x = 0.5
    assert grown.settings["lam_final"] == [1e3, 1e3]
    assert grown.final["violation"] < 1e-5 and grown.final["misfit"] < 1e-3 * grown.history[0]["misfit"]


def test_apg_needs_the_bregman_penalty_and_mac_defaults_to_bcd():
    net = from_sequential(_injective_mlp(16, 32), (16,))
    assert LiftedInversion(net, penalty="mac").method == "bcd"
    with pytest.raises(ValueError, match="penalty='bregman'"):
        LiftedInversion(net, penalty="mac", method="apg")
    with pytest.raises(ValueError, match="method must be one of"):
        LiftedInversion(net, method="newton")


def test_lifted_inversion_names_a_y_outside_the_output_range():
    net = _relu_encoder()
    y = net(torch.rand(2, 1, 8, 8)).detach()
    with pytest.raises(ValueError, match=r"y has \d+ values outside the range of the network's output activation"
                       r".*data_term='lifted'"):
        invert_lifted(net, y - 10.0, iters=2)
    for remedy in ({"data_term": "lifted"}, {}):  # the two remedies the message names
        target = y - 10.0 if remedy else net.activation(net.depth).project(y - 10.0)
        assert torch.isfinite(invert_lifted(net, target, iters=2, **remedy).x).all()


@pytest.mark.parametrize("invert", [invert_lifted, invert_gradient], ids=["lifted", "gradient"])
@pytest.mark.parametrize("bad, error, match", [
    (lambda y: y.flatten(1), ValueError, r"y has shape \(2, 64\); expected \(batch, 4, 4, 4\)"),
    (lambda y: y[0], ValueError, r"y has shape \(4, 4, 4\)"),
    (lambda y: y.index_fill(0, torch.tensor([0]), float("nan")), ValueError, r"y contains NaN"),  # one sample
    (lambda y: y.tolist(), TypeError, r"y must be a torch.Tensor"),
], ids=["flattened", "unbatched", "nan", "list"])
def test_both_inversions_name_a_bad_y(invert, bad, error, match):
    net = _relu_encoder()
    y = net(torch.rand(2, 1, 8, 8)).detach()
    with pytest.raises(error, match=match):
        invert(net, bad(y), iters=2)


@pytest.mark.parametrize("invert", [invert_lifted, invert_gradient], ids=["lifted", "gradient"])
@pytest.mark.parametrize("kwargs, match", [({"alpha": float("nan")}, r"alpha: expected a finite number >= 0"),
                                           ({"alpha": -1.0}, r"alpha: expected"),
                                           ({"iters": -3}, r"iters: expected an integer >= 0"),
                                           ({"iters": 2.5}, r"iters: expected an integer")],
                         ids=["alpha-nan", "alpha-negative", "iters-negative", "iters-fraction"])
def test_both_inversions_name_a_bad_setting(invert, kwargs, match):
    net = _relu_encoder()
    y = net(torch.rand(2, 1, 8, 8)).detach()
    with pytest.raises(ValueError, match=match):
        invert(net, y, **{"iters": 2, **kwargs})


@pytest.mark.parametrize("invert", [invert_lifted, invert_gradient], ids=["lifted", "gradient"])
@pytest.mark.parametrize("bad, match", [
    (lambda x: x[..., :4], r"x_true has shape \(2, 1, 8, 4\); expected \(batch, 1, 8, 8\)"),
    (lambda x: x[:1], r"x_true has 1 samples but y has 2"),
    (lambda x: x * float("nan"), r"x_true contains NaN"),
], ids=["shape", "batch", "nan"])
def test_both_inversions_name_a_bad_x_true(invert, bad, match):
    net = _relu_encoder()
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=match):
        invert(net, net(x).detach(), iters=2, x_true=bad(x))


def test_lifted_inversion_of_a_plain_module_says_how_to_convert_it():
    module = _plain_relu_encoder()
    with pytest.raises(TypeError, match=r"got Sequential: convert a torch module with .*as_lifted\(module, in_shape"):
        invert_lifted(module, module(torch.rand(2, 1, 8, 8)).detach(), iters=2)


def test_gradient_inversion_of_a_plain_module_needs_its_input_shape():
    module = _plain_relu_encoder()
    y = module(torch.rand(2, 1, 8, 8)).detach()
    with pytest.raises(ValueError, match=r"input shape of Sequential is unknown.*from_module.*x_init"):
        invert_gradient(module, y, iters=2)
    res = invert_gradient(module, y, iters=2, x_init=torch.full((2, 1, 8, 8), 0.5))
    assert res.x.shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"y has shape \(2, 64\)"):
        invert_gradient(module, y.flatten(1), iters=2, x_init=torch.full((2, 1, 8, 8), 0.5))


def test_bench_invert_torch_case_runs_and_reports_curves(tmp_path):
    from liftinv.bench.invert_torch import (
        markdown_lines,
        plot_torch_curves,
        random_crops,
        torch_encoder_experiment,
        train_torch_autoencoder,
    )

    images = [torch.rand(1, 40, 48) for _ in range(2)]
    enc, info = train_torch_autoencoder(images, steps=2, batch=4)
    assert info["steps"] == 2 and not any(q.requires_grad for q in enc.parameters())
    res = torch_encoder_experiment(enc, random_crops(images, 1, 0), random_crops(images, 1, 1), levels=(0.0, 0.05),
                                   grid=(1e-3, 1e-2), iters=6, tune_iters=2, monitor_every=2)
    assert len(res["records"]) == len(res["summary"]) == 2 * 4
    for rec in res["records"]:
        assert rec["curve"][0]["iteration"] == 0 and rec["curve"][-1]["iteration"] >= 6
        assert all(np.isfinite(c["psnr"]) for c in rec["curve"])
    apg = [r for r in res["records"] if r["method"] == "lifted (apg)"]
    assert all(r["options"]["lam"] == 1.0 for r in apg)
    assert {t["method"] for t in res["tuning"]} == {"lifted (apg)", "lifted BCD", "L-BFGS", "Adam"}
    assert "| 0.05 | L-BFGS |" in "\n".join(markdown_lines(res, info))
    plot_torch_curves(res, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0


def _positive_conv_net():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                      nn.Conv2d(4, 2, 3, padding=1)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.abs_()
    return as_lifted(m, (1, 8, 8))


def test_penalty_weights_come_back_when_a_run_raises():
    net = _positive_conv_net()
    y = net(torch.rand(1, 1, 8, 8)).detach()
    solver = LiftedInversion(net, lam_growth=1.5)

    def stop(record):
        if record["iteration"] >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        solver.run(y, 100, callback=stop)
    assert solver.problem.lam == [1.0, 1.0]


def test_tv_iters_reach_a_tv_named_in_any_case():
    net = _positive_conv_net()
    assert LiftedInversion(net, "TV", tv_iters=7).regulariser.iters == 7
    assert LiftedInversion(net, "Tv").regulariser.iters == LiftedInversion(net, "tv").regulariser.iters == 3


def test_networks_without_parameters_invert():
    net = as_lifted(nn.Sequential(nn.AvgPool2d(2), nn.ReLU()), (1, 8, 8))
    h = as_lifted(_SumOfItself().eval(), (1, 8, 8))  # relu(x + x): a sum of identity maps
    for network in (net, h):
        y = network(torch.rand(2, 1, 8, 8)).detach()
        for result in (invert_lifted(network, y, iters=5), invert_gradient(network, y, iters=5)):
            assert torch.isfinite(result.x).all()


class _SumOfItself(nn.Module):
    def forward(self, x):
        h = torch.relu(x)
        return torch.relu(h + h)


def test_the_final_lbfgs_record_describes_the_clamped_estimate():
    net = _positive_conv_net()
    y = net(3 * torch.ones(1, 1, 8, 8)).detach()
    res = invert_gradient(net, y, regulariser="box", method="lbfgs", iters=20, monitor_every=20)
    assert res.history[-1]["misfit"] == pytest.approx(float(data_misfit(net, res.x, y).mean()))


def test_autoencoder_panels_draw_a_single_noise_level(tmp_path):
    from liftinv.bench.invert_figures import plot_ae_panels

    image = np.zeros((8, 8))
    ae = {"settings": {"levels": [0.05], "methods": [{"label": "lifted"}, {"label": "L-BFGS"}]},
          "panels": {"truth": [image], (0.05, "lifted"): [image], (0.05, "L-BFGS"): [image]}}
    plot_ae_panels(ae, tmp_path / "panels.png")
    assert (tmp_path / "panels.png").stat().st_size > 0

