"""liftinv's denoisers as deepinv Denoisers: the sigma contract and a plug-and-play deblurring run."""

import warnings

import pytest
import torch

from liftinv.denoising.deepinv_denoiser import LiftinvDenoiser, as_deepinv_denoiser
from liftinv.denoising.models import build_denoiser, default_arch
from liftinv.metrics import psnr
from liftinv.models import DFBPNN


def _tv_dfb(weight=0.03, depth=40, size=32):
    """A DFB-PNN with finite differences as D_k and nu_k = weight: unrolled TV denoising (anisotropic)."""
    net = DFBPNN((1, size, size), depth=depth, features=2)
    kernel = torch.zeros(2, 1, 3, 3)
    kernel[0, 0, 1, 1], kernel[0, 0, 1, 2], kernel[1, 0, 1, 1], kernel[1, 0, 2, 1] = -1, 1, -1, 1
    with torch.no_grad():
        for op in net.ops:
            op.weight.copy_(kernel)
            op.log_nu.fill_(float(torch.log(torch.tensor(weight))))
    net.refresh(n_iter=30)
    return net


def _image(size=32):
    """A piecewise-constant test image (two rectangles and a disc)."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    img = 0.2 + 0.5 * ((yy > 6) & (yy < 20) & (xx > 4) & (xx < 14)).float()
    img = img + 0.3 * (((yy - 22) ** 2 + (xx - 22) ** 2) < 36).float()
    return img.clamp(0, 1)[None, None]


def test_is_a_deepinv_denoiser_with_the_sigma_contract():
    import deepinv as dinv

    net = _tv_dfb()
    den = as_deepinv_denoiser(net, sigma_trained=0.1)
    assert isinstance(den, dinv.models.Denoiser) and not den.training
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(den(x, 0.1), net(x))
        torch.testing.assert_close(den(x), net(x))
        torch.testing.assert_close(den(x, 0.05), net(2 * x) / 2)  # s = sigma_trained / sigma
        per_sample = den(x, torch.tensor([0.1, 0.05]))
        torch.testing.assert_close(per_sample[1], (net(2 * x) / 2)[1])
        torch.testing.assert_close(as_deepinv_denoiser(net, 0.1, rescale=False)(x, 0.05), net(x))
    with pytest.raises(ValueError, match="sigma_trained"):
        as_deepinv_denoiser(net)
    with pytest.raises(ValueError, match="positive"):
        den(x, 0.0)


def test_a_network_that_clips_to_0_1_is_only_scaled_down():
    net = build_denoiser(default_arch("sccp", 1, 16, depth=2, features=3))
    den = as_deepinv_denoiser(net, sigma_trained=0.1)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(den(x, 0.05), net(x))  # scaling up would cut the image at 1
        torch.testing.assert_close(den(x, 0.2), net(x / 2) * 2)


@pytest.mark.parametrize("name", ["dfb", "sccp", "dncnn"])
def test_every_denoiser_wraps(name):
    net = build_denoiser(default_arch(name, 3, 16, depth=2, features=4))
    out = LiftinvDenoiser(net, 25 / 255)(torch.rand(1, 3, 20, 18), 15 / 255)
    assert out.shape == (1, 3, 20, 18)


def test_pnp_deblurring_with_deepinvs_solver_improves_on_the_blurred_image():
    import deepinv as dinv

    torch.manual_seed(0)
    x = _image()
    sigma_noise, sigma_d = 0.02, 0.05
    physics = dinv.physics.BlurFFT(img_size=(1, 32, 32), filter=dinv.physics.functional.gaussian_blur(sigma=1.0),
                                   noise_model=dinv.physics.GaussianNoise(sigma_noise))
    y = physics(x)
    den = as_deepinv_denoiser(_tv_dfb(weight=0.05), sigma_trained=sigma_d)
    solver = dinv.optim.HQS(data_fidelity=dinv.optim.L2(), prior=dinv.optim.PnP(den),
                            stepsize=sigma_d**2 / sigma_noise**2, lambda_reg=1.0, g_param=sigma_d, max_iter=10)
    with torch.no_grad():
        xhat = solver(y, physics, init=y).clamp(0, 1)
    assert float(psnr(xhat, x)) > float(psnr(y, x)) + 5.0  # 27.0 -> 36.4 dB (an identity prior: 23.4)


def test_from_a_checkpoint_reads_the_trained_noise_level(tmp_path):
    from liftinv.denoising.task import describe
    from liftinv.restoration import TrainConfig, train_network

    images = [torch.rand(1, 24, 24) for _ in range(2)]
    config = TrainConfig(trainer="backprop", epochs=1, batch_size=8, patch=12, stride=12)
    train_network(default_arch("sccp", 1, 12, depth=2, features=3), describe(0.08), images, config,
                  checkpoint=tmp_path / "s.pt", progress=False)
    den = as_deepinv_denoiser(tmp_path / "s.pt", device="cpu")
    assert den.sigma_trained == pytest.approx(0.08)
    # a network trained for another task is no denoiser (it read the blur's noise level as its own)
    from liftinv.deblurring.models import default_deblur_arch
    from liftinv.deblurring.task import describe as describe_blur

    train_network(default_deblur_arch("box:3", patch=12, iters=1, features=3), describe_blur("box:3", 0.01), images,
                  config, checkpoint=tmp_path / "d.pt", progress=False)
    with pytest.raises(ValueError, match=r"holds a network trained for 'deblurring' .* not a network trained for "
                                         r"'denoising'"):
        as_deepinv_denoiser(tmp_path / "d.pt", device="cpu")


# -- FamilyDenoiser: one network per noise level ----------------------------------------------------
class _Tagged(torch.nn.Module):
    """Adds a tag to its input, so the output says which network ran and on what."""

    def __init__(self, tag: float) -> None:
        super().__init__()
        self.tag = torch.nn.Parameter(torch.tensor(float(tag)), requires_grad=False)

    def forward(self, x):
        return x + self.tag


def _family(color=False):
    from liftinv.denoising.deepinv_denoiser import FamilyDenoiser

    return FamilyDenoiser({0.1: _Tagged(1.0), 0.04: _Tagged(2.0)}, color=color)


@pytest.mark.parametrize("sigma, tag, s", [(0.2, 1.0, 0.5), (0.1, 1.0, 1.0), (0.06, 2.0, 0.04 / 0.06),
                                           (0.04, 2.0, 1.0)])
def test_family_takes_the_largest_level_not_above_sigma_rescaled_down(sigma, tag, s):
    x = torch.rand(1, 1, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(_family().double()(x, sigma), (x * s + tag) / s)


def test_below_the_lowest_level_the_lowest_network_is_blended_with_the_input():
    """At sigma = 0.01 below the lowest level 0.04: w N(x) + (1 - w) x with w = 0.01 / 0.04 (the
    network as trained would remove four times the noise there is)."""
    x = torch.rand(1, 1, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(_family().double()(x, 0.01), 0.25 * (x + 2.0) + 0.75 * x)


def test_family_denoises_each_sample_at_its_own_level():
    fam, x = _family().double(), torch.rand(2, 1, 4, 4, dtype=torch.float64)
    out = fam(x, torch.tensor([0.2, 0.04], dtype=torch.float64))
    torch.testing.assert_close(out[0], fam(x[:1], 0.2)[0])
    torch.testing.assert_close(out[1], fam(x[1:], 0.04)[0])


def test_family_in_colour_is_the_opponent_denoiser_planned_for_sigma():
    from liftinv.denoising.opponent import OpponentDenoiser, opponent_plan

    fam, x = _family(color=True).double(), torch.rand(1, 3, 6, 5, dtype=torch.float64)
    nets = dict(zip(fam.levels, fam.networks))
    plan = opponent_plan(0.1, fam.levels)
    expected = OpponentDenoiser([nets[level] for level, _ in plan], [k for _, k in plan]).double()(x)
    torch.testing.assert_close(fam(x, 0.1), expected)


def test_family_refuses_no_networks_and_no_sigma():
    from liftinv.denoising.deepinv_denoiser import FamilyDenoiser

    with pytest.raises(ValueError, match="at least one"):
        FamilyDenoiser({})
    with pytest.raises(ValueError, match="needs sigma"):
        _family()(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="positive"):
        _family()(torch.rand(1, 1, 4, 4), 0.0)


def test_shipped_family_is_a_deepinv_denoiser():
    from deepinv.models import Denoiser

    from liftinv.pretrained import MODELS, WEIGHTS_DIR, deepinv_denoiser

    if not all((WEIGHTS_DIR / s["file"]).is_file() for s in MODELS.values() if not s["color"]):
        pytest.skip("shipped weights not all present")
    fam = deepinv_denoiser(device="cpu")
    assert isinstance(fam, Denoiser) and fam.levels == sorted(s["sigma"] / 255 for s in MODELS.values()
                                                              if not s["color"])
    x = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        assert fam(x, 0.05).shape == x.shape and bool(torch.isfinite(fam(x, 0.3)).all())


def test_family_denoises_large_images_in_tiles_that_change_nothing():
    """A budget too small for the whole image: the family runs in exact tiles (the shipped models
    need about 3.4 kB per pixel, so a large photograph would not fit otherwise)."""
    import liftinv

    fam = liftinv.pretrained.deepinv_denoiser(device="cpu").double()
    x = torch.rand(1, 1, 90, 70, dtype=torch.float64)
    with torch.no_grad():
        whole = fam(x, 30 / 255)
        fam.budget_mb = 2.0  # about 600 pixels' worth: tiles of the minimum size
        torch.testing.assert_close(fam(x, 30 / 255), whole, rtol=0, atol=1e-10)


def test_levels_on_the_wrong_scale_are_named():
    """deepinv's denoisers take sigma on the images' [0, 1] scale, liftinv.pretrained on 0-255."""
    import liftinv

    den = LiftinvDenoiser(_Tagged(0.0), 0.1)
    with pytest.warns(UserWarning, match=r"sigma 25 is above 1: .* pass 25/255 = 0.09804"):
        den(torch.rand(1, 1, 8, 8), 25.0)  # warned, not refused: a diffusion sampler's first levels exceed 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        den(torch.rand(1, 1, 8, 8), 30.0)  # said once per denoiser
    with pytest.warns(UserWarning) as caught:
        liftinv.pretrained(25 / 255)
    assert any("sigma 0.0980392 is read on the 0-255 scale" in str(w.message) and "25/255 -> 25" in str(w.message)
               for w in caught)


def test_the_family_is_differentiable_when_its_input_requires_grad():
    """A sampler differentiates through the denoiser: the untiled pass keeps the graph, same values."""
    from liftinv.denoising.deepinv_denoiser import FamilyDenoiser

    torch.manual_seed(0)
    fam = FamilyDenoiser({0.05: DFBPNN((1, 10, 10), depth=2, features=3), 0.2: DFBPNN((1, 10, 10), depth=2,
                                                                                         features=3)})
    x = torch.rand(2, 1, 10, 10, requires_grad=True)
    y = fam(x, 0.1)
    y.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    with torch.no_grad():
        torch.testing.assert_close(fam(x.detach(), 0.1), y.detach())


def test_a_lifted_denoiser_rescaled_for_a_weak_level_is_not_read_as_0_255():
    """deepinv's N(s x)/s for sigma far below the trained level scales the image up past the network's
    0-255 check (DPIR schedules end there: 'x has values up to 12.5'); the caller's image is checked."""
    from liftinv.models import DFBPNN

    torch.manual_seed(0)
    den = LiftinvDenoiser(DFBPNN((1, 8, 8), depth=2, features=4), 25 / 255)
    x = torch.rand(1, 1, 16, 16)
    assert den.scale_up and torch.isfinite(den(x, 2 / 255)).all()
    with pytest.raises(ValueError, match="0-255"):
        den(x * 255, 2 / 255)


def test_a_loaded_dfb_network_refreshes_its_step_sizes_from_a_cold_start():
    """The warm start of a DFB operator's power iteration belonged to the weights before
    load_state_dict: one warm iteration from it put tau |D|^2 at 1.1-7 on the shipped model (the
    DFB step needs < 2; 0.99 by design)."""
    from liftinv.models import DFBPNN
    from liftinv.models.power import power_iteration

    torch.manual_seed(0)
    trained = DFBPNN((1, 12, 12), depth=3, features=6)
    with torch.no_grad():
        for op in trained.ops:
            op.weight.mul_(torch.rand_like(op.weight) * 4)  # weights far from the fresh network's
    trained.refresh(n_iter=30)
    loaded = DFBPNN((1, 12, 12), depth=3, features=6)
    loaded.load_state_dict(trained.state_dict())
    loaded.refresh()  # what fit and the solvers do first
    for op in loaded.ops:
        exact = float(power_iteration(lambda v, op=op: op.Dt(op.D(v)), None, 300, shape=(1, 1, 12, 12), like=op.weight,
                                      seed=1, cold_iters=300)[0])
        assert 0.99 <= float(op.tau) * exact < 1.05  # 30 cold iterations: 0.99-1.013 (warm from the old: 1.18)
