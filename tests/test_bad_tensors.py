"""Bad tensors and values given to the Python API: a uint8 or 0-255 image to DFBPNN, images of
the wrong shape to save_image, out-of-range numbers, unusable devices, bad training settings."""

from __future__ import annotations

import math
import re

import pytest
import torch

from liftinv.data import save_image
from liftinv.models import DFBPNN
from liftinv.restoration import TrainConfig
from liftinv.utils.checks import check_number, resolve_device


@pytest.fixture(scope="module")
def dfb():
    return DFBPNN((1, 8, 8), depth=2, features=4)


@pytest.mark.parametrize("x, error, words", [
    (torch.randint(0, 256, (1, 1, 8, 8), dtype=torch.uint8), TypeError, "uint8"),
    (torch.ones(1, 1, 8, 8, dtype=torch.bool), TypeError, "bool"),
    (torch.rand(1, 1, 8, 8) * 255, ValueError, "0-255"),
    (torch.full((1, 1, 8, 8), float("nan")), ValueError, "NaN"),
    (torch.rand(1, 3, 8, 8), ValueError, "(B, 1, H, W)"),
    (torch.rand(8, 8), ValueError, "(B, 1, H, W)"),
])
def test_dfbpnn_refuses_what_is_not_a_unit_range_image(dfb, x, error, words):
    with pytest.raises(error, match=re.escape(words)):
        dfb(x)


def test_dfbpnn_accepts_noisy_unit_range_images(dfb):
    x = torch.rand(2, 1, 8, 8) + 0.5 * torch.randn(2, 1, 8, 8)  # noise leaves [0, 1]: still accepted
    assert torch.isfinite(dfb(x)).all()


@pytest.mark.parametrize("image, words", [
    (torch.rand(8, 8), "(C, H, W)"), (torch.rand(4, 8, 8), "C = 1 or 3"), (torch.rand(1, 1, 8, 8), "(C, H, W)"),
    (torch.rand(1, 0, 8), "(C, H, W)"), ([[0.5]], "list"),
])
def test_save_image_refuses_other_shapes(image, words, tmp_path):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        save_image(tmp_path / "x.png", image)
    assert list(tmp_path.iterdir()) == []


def test_save_image_refuses_an_integer_image(tmp_path):
    with pytest.raises(TypeError, match="x.float\\(\\) / 255"):  # 0-255 values would all be clipped to white
        save_image(tmp_path / "x.png", torch.full((1, 4, 4), 128, dtype=torch.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value, kwargs", [
    (float("nan"), {}), (float("inf"), {}), (-1.0, {}), (0.0, {"strict": True}), (True, {}), ("3", {}),
    (None, {}), (1.5, {"integer": True}), (0, {"minimum": 1, "integer": True}),
])
def test_check_number_refuses(value, kwargs):
    with pytest.raises(ValueError, match="--opt: expected"):
        check_number(value, "--opt", **kwargs)


def test_check_number_accepts():
    assert check_number(3, "n", minimum=1, integer=True) == 3
    assert math.isclose(check_number(0.0, "x"), 0.0) and check_number(2, "x", strict=True) == 2.0


@pytest.mark.parametrize("device, words", [
    ("gpu", "unknown device"), ("meta", "unknown device"), ("cuda:x", "unknown device"), ("", "unknown device"),
    ("cuda:99", "cuda:99"),
])
def test_resolve_device_refuses(device, words):
    if device == "cuda:99" and not torch.cuda.is_available():
        words = "no CUDA device"
    with pytest.raises(ValueError, match=words):
        resolve_device(device)


@pytest.mark.parametrize("bad, name", [
    ({"lr": float("nan")}, "lr"), ({"lr": -1.0}, "lr"), ({"budget": float("nan")}, "budget"),
    ({"epochs": 0}, "epochs"), ({"patch": 0}, "patch"), ({"batch_size": 2.0}, "batch_size"),
    ({"lam": -1.0}, "lam"), ({"lam": [1.0, float("nan")]}, "lam"), ({"seed": -1}, "seed"),
    ({"device": "gpu"}, "device"), ({"stride": 0}, "stride"), ({"max_patches": 0}, "max_patches"),
])
def test_train_config_refuses(bad, name):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**{"epochs": 1, **bad})


def _sigma_entry_points():
    from liftinv.deblurring.physics import blur_physics, blurred_test_set
    from liftinv.deblurring.task import describe as deblur_task
    from liftinv.denoising import as_deepinv_denoiser
    from liftinv.denoising.classical import bm3d_denoise, default_tv_grid, tune_tv_weight
    from liftinv.denoising.task import describe as denoise_task
    from liftinv.restoration import make_physics

    z = torch.rand(1, 1, 16, 16)
    box = torch.ones(3, 3) / 9
    return {  # the last four took 25 as 25 times the images' range, without a word
        "denoising task": lambda s: denoise_task(s),
        "deblurring task": lambda s: deblur_task(torch.ones(3, 3) / 9, s),
        "as_deepinv_denoiser": lambda s: as_deepinv_denoiser(torch.nn.Conv2d(1, 1, 3, padding=1), s),
        "bm3d_denoise": lambda s: bm3d_denoise(z, s),
        "default_tv_grid": lambda s: default_tv_grid(s),
        "tune_tv_weight": lambda s: tune_tv_weight([z[0]], s),
        "blur_physics": lambda s: blur_physics(box, s),
        "blurred_test_set": lambda s: blurred_test_set([z[0]], box, s),
        "a hand-written denoising task": lambda s: make_physics({"task": "denoising", "sigma": s}),
        "a hand-written deblurring task": lambda s: make_physics({"task": "deblurring", "kernel": box.tolist(),
                                                                  "sigma": s}),
    }


@pytest.mark.parametrize("entry", list(_sigma_entry_points()))
def test_a_sigma_on_the_0_255_scale_is_named_where_the_api_takes_0_1(entry):
    """liftinv.pretrained(25) and the command line take 0-255; the Python API [0, 1]: 25 there is
    the likely mix-up (bm3d_denoise(z, 25) gave 9.1 dB where 25/255 gives 29.2)."""
    with pytest.raises(ValueError, match="0-255 scale it is 25/255 = 0.09804"):
        _sigma_entry_points()[entry](25)


def _encoder():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.Conv2d(4, 4, 3, stride=2, padding=1), torch.nn.ReLU()).eval()
    from liftinv import as_lifted
    net = as_lifted(module, in_shape=(1, 8, 8))
    x = torch.rand(2, 1, 8, 8)
    return module, net, x, net(x).detach()


@pytest.mark.parametrize("call, error, words", [
    (lambda m, n, x, y, L: L.invert_lifted(n, y, iters=2, monitor_every=0), ValueError, "monitor_every"),
    (lambda m, n, x, y, L: L.invert_lifted(n, y, iters=2, step_scale=0), ValueError, "step_scale"),
    (lambda m, n, x, y, L: L.invert_lifted(n, y, iters=2, lam_growth=float("nan")), ValueError, "lam_growth"),
    (lambda m, n, x, y, L: L.invert_lifted(n, y, iters=2, order="even-odd"), ValueError, "method='bcd'"),
    (lambda m, n, x, y, L: L.invert_lifted(n, y[:0], iters=2), ValueError, "y has no samples"),
    (lambda m, n, x, y, L: L.invert_lifted(n, (y * 100).int(), iters=2), TypeError, "y is torch.int32"),
    (lambda m, n, x, y, L: L.invert_lifted(n, y, iters=2, x_true=x * 255), ValueError, "x_true has values up to"),
    (lambda m, n, x, y, L: L.invert_lifted(n, y, iters=2, x_true=(x * 255).to(torch.uint8)), TypeError, "x_true has"),
    (lambda m, n, x, y, L: L.invert_gradient(m, y, x_init=torch.full_like(x, 0.5), iters=2, eps=0), ValueError, "eps"),
    (lambda m, n, x, y, L: L.invert_gradient(n, y, iters=2, monitor_every=0), ValueError, "monitor_every"),
    (lambda m, n, x, y, L: L.invert_gradient(n, y, iters=2, x_init=(x * 255).to(torch.uint8)), TypeError, "x_init"),
])
def test_inversion_arguments_are_named_before_any_work(call, error, words):
    """Before: a ZeroDivisionError (monitor_every, step_scale), 't must be >= 0, got nan' (NaN
    growth), an ignored order, an all-NaN history (no samples), silent casts and 5-dB PSNRs of a
    0-255 reference, a NaN estimate (eps = 0)."""
    import liftinv
    with pytest.raises(error, match=re.escape(words)):
        call(*_encoder(), liftinv)


def test_a_diverged_gradient_inversion_warns():
    import liftinv
    module, _, x, y = _encoder()
    with pytest.warns(RuntimeWarning, match="diverged.*smaller lr"):
        liftinv.invert_gradient(module, y, x_init=torch.full_like(x, 0.5), iters=5, lr=1e30, regulariser="none")


def test_fit_checks_the_test_set_before_training():
    """Before: a full epoch of training, then 'x has shape (10, 5)' (naming x, not x_test); a y_test
    of the wrong width was broadcast against the output and scored without a word, and a wrong
    x_train or y_train failed inside the first step, under a started progress bar."""
    from liftinv import MLP, LiftedProblem
    from liftinv.solvers import BCD, fit
    x, y = torch.randn(64, 4), torch.randn(64, 2)
    solver = BCD(LiftedProblem(MLP([4, 8, 2])))
    with pytest.raises(ValueError, match=re.escape("x_test and y_test: the network cannot score them (input x0 has "
                                                   "shape (1, 5); expected (batch, 4))")):
        fit(solver, x, y, epochs=1, x_test=torch.randn(10, 5), y_test=torch.randn(10, 2), progress=False)
    with pytest.raises(ValueError, match=re.escape("x_test and y_test: the network cannot score them (target y has "
                                                   "shape (1, 1); expected (batch, 2))")):
        fit(solver, x, y, epochs=1, x_test=torch.randn(10, 4), y_test=torch.randn(10, 1), progress=False)
    with pytest.raises(ValueError, match=re.escape("x_train and y_train: the network cannot score them (target y "
                                                   "has shape (1, 3); expected (batch, 2))")):
        fit(solver, x, torch.randn(64, 3), epochs=1, progress=False)
    with pytest.raises(ValueError, match=re.escape("x_train and y_train: the network cannot score them (input x0 "
                                                   "has shape (1, 5); expected (batch, 4))")):
        fit(solver, torch.randn(64, 5), y, epochs=1, progress=False)
    with pytest.raises(ValueError, match="y_test contains NaN"):
        fit(solver, x, y, epochs=1, x_test=torch.randn(10, 4), y_test=torch.full((10, 2), math.nan), progress=False)
    x[3, 1] = math.nan  # named as data, not taken for a diverged step (a review found that)
    with pytest.raises(ValueError, match="x_train contains NaN"):
        fit(solver, x, y, epochs=1, progress=False)
    assert solver._steps == 0


def test_fit_scores_a_fully_convolutional_network_on_whole_images():
    """Patches to train on, larger images to test on: the test set need not have the training shape."""
    from liftinv.solvers import Backprop, fit
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 3, padding=1))
    x = torch.rand(32, 1, 8, 8)
    history = fit(Backprop(net), x, x, epochs=1, batch_size=8, x_test=torch.rand(4, 1, 16, 16),
                  y_test=torch.rand(4, 1, 16, 16), progress=False)
    assert math.isfinite(history.final["test_loss"])


def test_score_refuses_lists_of_different_lengths():
    """Before: zip scored the shorter list (one image of two) and an empty pair divided by zero."""
    from liftinv.restoration import score
    a, b = torch.rand(1, 16, 16), torch.rand(1, 16, 16)
    for restored, clean in (([a], [a, b]), ([a, b], [a]), ([], [])):
        with pytest.raises(ValueError, match="one restored image per clean image"):
            score(restored, clean)


def _restoration_nets():
    from liftinv.deblurring.models import default_deblur_arch
    from liftinv.deblurring.physics import parse_kernel
    from liftinv.models import SccpPNN
    from liftinv.restoration import build_network
    deblur = build_network(default_deblur_arch(parse_kernel("box:3"), 1, 8, iters=2, features=4), device="cpu")
    return [SccpPNN((1, 8, 8), depth=2, features=4), deblur]


@pytest.mark.parametrize("index", [0, 1])
def test_every_restoration_network_refuses_a_0_255_or_integer_image(index):
    """The shipped ScCP denoiser returned an all-white image for a 0-255 input, without a word."""
    net = _restoration_nets()[index]
    name = type(net).__name__
    with pytest.raises(ValueError, match=f"{name}: x has values up to .*divide a 0-255 image by 255"):
        net(torch.rand(1, 1, 16, 16) * 255)
    with pytest.raises(TypeError, match=f"{name}: x has dtype torch.uint8"):
        net(torch.randint(0, 256, (1, 1, 16, 16), dtype=torch.uint8))
    assert net(torch.rand(1, 1, 16, 16)).shape == (1, 1, 16, 16)


@pytest.mark.parametrize("build, words", [
    (lambda L: L.CNN((1, 16, 16), stride=0), "CNN stride: expected an integer >= 1, got 0"),  # was ZeroDivisionError
    (lambda L: L.CNN((1, 16, 16), kernel_size=0), "CNN kernel_size"),  # was a oneDNN error at the first forward
    (lambda L: L.MLP([4, 2.7, 2]), "MLP sizes: expected an integer >= 1, got 2.7"),  # was truncated to 2
    (lambda L: L.ResNet(4, 3, 3, 1.5, 2), "ResNet n_blocks"),  # was a TypeError from range
    (lambda L: L.models.Conv2d(1, 2, 3, padding=-1), "Conv2d padding"),
])
def test_network_constructors_name_a_bad_size(build, words):
    import liftinv
    import liftinv.models
    with pytest.raises(ValueError, match=re.escape(words)):
        build(liftinv)


def test_fit_refuses_a_one_sample_last_batch_for_batch_norm():
    """Before: a full epoch, then torch's 'Expected more than 1 value per channel when training'."""
    from liftinv.solvers import Backprop, fit
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    with pytest.raises(ValueError, match="last batch of one sample.*choose another batch_size"):
        fit(Backprop(net), torch.randn(65, 4), torch.randn(65, 2), epochs=1, batch_size=64, progress=False)
    assert math.isfinite(fit(Backprop(net), torch.randn(66, 4), torch.randn(66, 2), epochs=1, batch_size=64,
                             progress=False).final["train_loss"])


def test_restore_images_runs_a_network_without_parameters():
    """Before: a bare StopIteration from next(network.parameters())."""
    from liftinv.restoration import restore_images
    image = torch.rand(1, 8, 8)
    assert torch.equal(restore_images(torch.nn.Identity(), [image])[0], image)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_networks_are_refused_where_they_would_fail(dtype):
    """Before: TrainingDiverged at step 1 or 2 with the advice to lower a learning rate of 1e-6, and
    'x contains NaN or Inf values' from invert_gradient (an x the user never passed)."""
    from liftinv import MLP, LiftedProblem, invert_gradient, invert_lifted
    from liftinv.solvers import BCD, Backprop, fit
    x, y = torch.randn(16, 8), torch.randn(16, 1)
    for solver in (BCD(LiftedProblem(MLP([8, 4, 1]).to(dtype)), weights="adam"), Backprop(MLP([8, 4, 1]).to(dtype))):
        with pytest.raises(TypeError, match=f"fit: the network is {dtype}.*net.float"):
            fit(solver, x, y, epochs=1, progress=False)
    net = MLP([8, 4, 3], "tanh").to(dtype)
    codes = net(x.to(dtype)).detach()
    for invert in (invert_lifted, invert_gradient):
        with pytest.raises(TypeError, match=f"inversion: the network is {dtype}"):
            invert(net, codes, regulariser="tikhonov", iters=2)
