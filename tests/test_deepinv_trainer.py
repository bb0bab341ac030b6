"""deepinv's Trainer drives a lifted solver through the torch.optim.Optimizer contract."""

import pytest
import torch

dinv = pytest.importorskip("deepinv")

from liftinv.lifting import LiftedProblem  # noqa: E402
from liftinv.models import Conv2d, Layer, LiftedNetwork  # noqa: E402
from liftinv.solvers import BCD, Adam  # noqa: E402
from liftinv.solvers.deepinv_trainer import LiftedTrainer, NetworkReconstructor  # noqa: E402


class _Images(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        return self.x[i]


def test_deepinv_trainer_trains_a_lifted_network():
    torch.manual_seed(0)
    # A small fully convolutional denoiser of 1x8x8 images.
    net = LiftedNetwork([Layer(Conv2d(1, 4, 3), "relu"), Layer(Conv2d(4, 1, 3), "identity")], in_shape=(1, 8, 8))
    clean = torch.rand(64, 1, 8, 8) * 0.2 + 0.4
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(sigma=0.05))
    solver = BCD(LiftedProblem(net), weights=Adam(lr=1e-2))
    model = NetworkReconstructor(net)
    before = torch.nn.functional.mse_loss(model(physics(clean)), clean).item()
    trainer = LiftedTrainer(
        model=model, physics=physics, optimizer=solver, epochs=5,
        train_dataloader=torch.utils.data.DataLoader(_Images(clean), batch_size=16),
        online_measurements=True, metrics=None, device="cpu", save_path=None,
        verbose=False, show_progress_bar=False,
    )
    trainer.train()
    after = torch.nn.functional.mse_loss(model(physics(clean)), clean).item()
    assert solver._steps == 5 * 4  # one lifted step per batch, driven by optimizer.step()
    assert after < 0.5 * before
