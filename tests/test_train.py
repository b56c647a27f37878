import math

import pytest
import torch

from drawjourney import train


class Counting:
    """A fake re-iterable loader: `n` batches per pass, counting passes."""

    def __init__(self, n):
        self.n, self.passes = n, 0

    def __len__(self):
        return self.n

    def __iter__(self):
        self.passes += 1
        return iter(range(self.n))


def test_steps_budget_spans_epochs():
    loader = Counting(4)
    history = train.fit(lambda b: 1.0, loader, steps=10, progress=False)
    assert history.steps == 10 and history.stopped_by == "steps"
    assert history.epochs == 2 and loader.passes == 3
    assert len(history.losses["loss"]) == 10


def test_epochs_budget():
    history = train.fit(lambda b: torch.tensor(0.5), Counting(5), epochs=3, progress=False)
    assert history.steps == 15 and history.epochs == 3 and history.stopped_by == "epochs"


def test_minutes_budget_stops_on_time():
    import time

    def slow(_):
        time.sleep(0.01)
        return 1.0

    history = train.fit(slow, Counting(1000), minutes=0.1 / 60, progress=False)
    # Stopped by the clock (0.1 s of budget), long before the 1000 steps of an epoch.
    assert history.stopped_by == "minutes"
    assert 0.1 <= history.seconds < 2.0
    assert 1 <= history.steps < 200


def test_dict_losses_are_kept_by_name():
    history = train.fit(lambda b: {"d": 1.0, "g": torch.tensor(2.0)}, Counting(3), steps=3,
                        progress=False)
    assert history.losses == {"d": [1.0] * 3, "g": [2.0] * 3}


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_loss_stops_with_the_step(bad):
    values = iter([1.0, 1.0, bad, 1.0])
    with pytest.raises(train.TrainingDiverged, match="step 3"):
        train.fit(lambda b: next(values), Counting(10), steps=4, progress=False)


def test_callback_every_and_at_end():
    seen = []
    train.fit(lambda b: 1.0, Counting(7), steps=25, every=10, progress=False,
              callback=lambda step, h: seen.append(step))
    assert seen == [10, 20, 25]


def test_needs_a_budget_and_a_scalar():
    with pytest.raises(ValueError, match="budget"):
        train.fit(lambda b: 1.0, Counting(2))
    with pytest.raises(ValueError, match="scalar"):
        train.fit(lambda b: torch.ones(3), Counting(2), steps=1, progress=False)
    with pytest.raises(ValueError, match="nothing"):
        train.fit(lambda b: 1.0, Counting(0), epochs=1, progress=False)


def test_fit_trains_a_real_model():
    torch.manual_seed(0)
    x = torch.randn(256, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(idx):
        loss = torch.nn.functional.mse_loss(model(x[idx]).squeeze(1), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    batches = [torch.arange(i, i + 32) for i in range(0, 256, 32)]
    history = train.fit(step, batches, epochs=20, progress=False)
    assert history.losses["loss"][-1] < 0.01 * history.losses["loss"][0]
