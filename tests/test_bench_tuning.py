"""search_grid: a weight tuned on a grid is never decided by the grid's end."""

import pytest

from liftinv.bench.tuning import search_grid


@pytest.mark.parametrize("peak, expected", [(0.02, 0.01), (1.0, 0.9), (5e-4, 1e-3 / 3)])
def test_an_interior_best_is_kept_and_an_end_best_is_extended(peak, expected):
    grid = [1e-3, 1e-2, 0.1]
    best, scores = search_grid(lambda a: -abs(a - peak) / peak, grid)
    assert best == pytest.approx(expected)
    assert list(scores)[:3] == grid  # the grid first, then any extension
    inside = min(scores) < best < max(scores)
    assert inside or len(scores) == len(grid) + 3  # interior, or the extension budget spent


def test_no_extension_past_a_peak_inside_the_grid():
    calls = []
    search_grid(lambda a: calls.append(a) or -abs(a - 0.01), [1e-3, 1e-2, 0.1])
    assert calls == [1e-3, 1e-2, 0.1]


@pytest.mark.parametrize("grid, step, match", [([], 3.0, "at least one"), ([1.0], 1.0, "step must be > 1")])
def test_bad_settings_are_named(grid, step, match):
    with pytest.raises(ValueError, match=match):
        search_grid(lambda a: 0.0, grid, step=step)


def test_a_grid_point_whose_solver_warns_is_scored_quietly():
    """A grid tries poor values on purpose: a solver's RuntimeWarning at one of them is not shown."""
    import warnings

    def score(a):
        warnings.warn("did not converge", RuntimeWarning, stacklevel=2)
        return -abs(a - 1.0)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert search_grid(score, [0.1, 1.0, 10.0])[0] == 1.0


def test_autoencoder_tuning_scores_the_mean_over_its_training_crops():
    """tune_alphas with several training images scores each weight by the mean PSNR of their crops
    (one picture alone chose the autoencoder's 1% weight by a hair), and with one image scores as
    before."""
    import torch

    from liftinv.bench.invert_experiments import tune_alphas
    from liftinv.inversion.autoencoder import autoencoder_arch, build_autoencoder

    torch.manual_seed(0)
    net = build_autoencoder(autoencoder_arch(8, (2, 2), 8, 16))
    images = [torch.rand(1, 24, 24), torch.rand(1, 20, 28) * 0.5]
    kw = {"levels": (0.05,), "methods": [{"label": "Adam", "kind": "adam", "lr": 0.03}], "grid": [1e-3, 1e-2],
          "iters": 3, "crop": 16}
    alone = [{r["alpha"]: r["psnr"] for r in tune_alphas(net, [im], **kw)[1]} for im in images]
    # the second image's own noise draw is the one it gets in a pair: its seed shifted by 100
    alone[1] = {r["alpha"]: r["psnr"] for r in tune_alphas(net, [images[1]], **kw, seed=100)[1]}
    best, scores = tune_alphas(net, images, **kw)
    for r in scores:
        assert r["psnr"] == pytest.approx((alone[0][r["alpha"]] + alone[1][r["alpha"]]) / 2, abs=1e-9)
    assert best[(0.05, "Adam")] == max(scores, key=lambda r: r["psnr"])["alpha"]
    single = tune_alphas(net, images[0], **kw)  # one tensor, as before
    assert single[1] == tune_alphas(net, [images[0]], **kw)[1]
