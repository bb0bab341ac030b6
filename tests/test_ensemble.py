"""liftinv.denoising.SelfEnsemble: the mean of g^-1 f(g z) over flips and quarter turns g."""

from __future__ import annotations

import pytest
import torch

from liftinv.denoising.ensemble import _TRANSFORMS, ENSEMBLE_SIZES, SelfEnsemble, _apply, _undo, self_ensemble


def _net(channels=1):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(channels, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(4, channels, 3, padding=1))


def test_each_transform_is_undone_and_the_first_n_are_a_group():
    z = torch.rand(2, 1, 5, 7)
    for g in _TRANSFORMS:
        torch.testing.assert_close(_undo(_apply(z, *g), *g), z, rtol=0, atol=0)
    for n in ENSEMBLE_SIZES:  # closed under composition: g(h(z)) is some element of the first n
        images = [_apply(z, *g) for g in _TRANSFORMS[:n]]
        for g in _TRANSFORMS[:n]:
            for img in images:
                assert any(torch.equal(_apply(img, *g), other) for other in images)


@pytest.mark.parametrize("n", [2, 4, 8])
def test_the_ensemble_is_equivariant_to_its_group(n):
    f, z = SelfEnsemble(_net(), n), torch.rand(1, 1, 9, 6)
    with torch.no_grad():
        fz = f(z)
        for g in _TRANSFORMS[:n]:
            torch.testing.assert_close(f(_apply(z, *g)), _apply(fz, *g), atol=1e-6, rtol=0)
    with torch.no_grad():  # a plain convolutional net is not: the ensemble does change it
        assert not torch.allclose(f.network(z.flip(-1)), f.network(z).flip(-1), atol=1e-4)


def test_the_ensemble_is_the_mean_of_the_transformed_outputs():
    net, z = _net(3), torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        want = torch.stack([_undo(net(_apply(z, *g)), *g) for g in _TRANSFORMS]).mean(0)
        torch.testing.assert_close(SelfEnsemble(net, 8)(z), want, atol=1e-6, rtol=0)
    assert self_ensemble(net, 1) is net
    assert list(SelfEnsemble(net).parameters()) == list(net.parameters())


def test_gradients_flow_through_the_ensemble():
    net = _net()
    SelfEnsemble(net, 8)(torch.rand(1, 1, 6, 6)).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("n", [0, 3, 16, 2.0, True, "8"])
def test_sizes_that_are_not_groups_are_refused(n):
    with pytest.raises(ValueError, match="n must be one of"):
        SelfEnsemble(_net(), n)


def test_the_ensemble_of_a_shipped_denoiser_is_no_worse_on_training_images():
    """Averaging equally good, partly independent estimates lowers the error (a training image:
    the test images are for the benchmark only)."""
    from liftinv import pretrained
    from liftinv.data import load_embedded
    from liftinv.pretrained import available

    if not any(m["key"] == "gray25" for m in available()):
        pytest.skip("gray25 weights not shipped in this checkout")
    net, _ = pretrained(25, device="cpu")
    x = load_embedded("train")[1][:, :96, :96]
    z = x + 25 / 255 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        err = [float((f(z[None])[0].clamp(0, 1) - x).square().mean()) for f in (net, SelfEnsemble(net, 8))]
    assert err[1] < err[0]
