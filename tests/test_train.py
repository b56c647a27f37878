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


@pytest.mark.parametrize("kwargs,error,match", [
    ({"minutes": float("nan")}, ValueError, "minutes must be a positive finite number"),
    ({"minutes": float("inf")}, ValueError, "minutes must be a positive finite number"),
    ({"minutes": "1"}, TypeError, "minutes must be a number"),
    ({"steps": 2.5}, TypeError, "steps must be a positive int"),
    ({"steps": "10"}, TypeError, "steps must be a positive int"),
    ({"steps": True}, TypeError, "steps must be a positive int"),
    ({"steps": 0}, ValueError, "steps must be a positive int"),
    ({"epochs": 1.0}, TypeError, "epochs must be a positive int"),
    ({"steps": 3, "every": 0}, ValueError, "every must be a positive int"),
    ({"steps": 3, "callback": "plot"}, TypeError, "callback must be a function"),
])
def test_bad_budgets_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        train.fit(lambda b: 1.0, Counting(3), progress=False, **kwargs)


def test_steps_are_whole_numbers_numpy_ints_included():
    np = pytest.importorskip("numpy")
    assert train.fit(lambda b: 1.0, Counting(3), steps=np.int64(2), progress=False).steps == 2


def test_step_fn_and_batches_are_checked():
    with pytest.raises(TypeError, match="step_fn must be a function"):
        train.fit("step", Counting(3), steps=1, progress=False)
    with pytest.raises(TypeError, match="batches must be re-iterable"):
        train.fit(lambda b: 1.0, 42, steps=1, progress=False)


@pytest.mark.parametrize("value", [True, torch.tensor(True), "0.5", None, [1.0]])
def test_a_step_returning_a_non_loss_is_refused(value):
    with pytest.raises(TypeError, match="step_fn must return a loss|real loss"):
        train.fit(lambda b: value, Counting(3), steps=1, progress=False)


def test_numpy_scalar_losses_are_accepted():
    np = pytest.importorskip("numpy")
    history = train.fit(lambda b: np.float32(0.25), Counting(3), steps=2, progress=False)
    assert history.losses["loss"] == [0.25, 0.25]


def test_a_one_shot_generator_says_so_on_its_second_pass():
    one_shot = (b for b in range(3))
    with pytest.raises(ValueError, match="pass 2: a generator or iterator can be read only once"):
        train.fit(lambda b: 1.0, one_shot, epochs=2, progress=False)


def test_history_last_names_the_losses_it_has():
    history = train.fit(lambda b: {"d": 1.0, "g": 2.0}, Counting(2), steps=2, progress=False)
    with pytest.raises(KeyError, match=r"no loss named 'loss'.*\['d', 'g'\]"):
        history.last()
    with pytest.raises(ValueError, match="n must be a positive int"):
        history.last("d", n=0)


def test_a_notebook_bar_is_redisplayed_finished(monkeypatch):
    """In a notebook the saved plain text of the bar must be the finished bar, not 0%."""
    from tqdm.notebook import tqdm_notebook

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(repr(obj))

    monkeypatch.setattr(train, "tqdm", tqdm_notebook)
    monkeypatch.setattr("IPython.display.display", lambda obj, display_id=False: Handle())
    train.fit(lambda b: 1.0, Counting(3), steps=5, desc="demo")
    assert len(shown) == 1 and "demo: 100%" in shown[0] and "5/5" in shown[0]


def test_recipe_copies_applies_overrides_and_rejects_unknown_settings():
    recipes = {"small": {"epochs": 3, "lr": 1e-3}}
    settings = train.recipe(recipes, "small", "toy", {"lr": 5e-4}, epochs=7)
    assert settings == {"epochs": 7, "lr": 5e-4}
    assert recipes["small"] == {"epochs": 3, "lr": 1e-3}            # the table is untouched
    with pytest.raises(ValueError, match="no toy recipe named 'big'.*small"):
        train.recipe(recipes, "big", "toy", {})
    with pytest.raises(TypeError, match=r"unknown recipe settings \['learning_rate'\]"):
        train.recipe(recipes, "small", "toy", {"learning_rate": 1.0})
    with pytest.raises(ValueError, match="epochs"):
        train.recipe(recipes, "small", "toy", {}, epochs=0)


def test_cosine_schedule_falls_from_the_start_to_the_floor_and_stays():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    schedule = train.cosine_schedule(optimizer, 10, floor=0.1)
    rates = []
    for _ in range(14):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx(1.0)
    assert rates[5] == pytest.approx(0.55)                             # halfway: the mean
    assert all(a > b for a, b in zip(rates[:10], rates[1:11]))         # falls every step
    assert rates[10:] == pytest.approx([0.1] * 4)                      # then held at the floor
