"""One training loop for every model of the course.

A model's notebook writes a `step_fn(batch)` that does one optimisation step and returns
its loss (a tensor or float) or a dict of named losses; `fit` calls it over the batches
for a budget of steps, epochs or minutes, shows a progress bar with the running loss and
returns a `History`. The GAN's step updates its two optimisers inside `step_fn`.
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or infinite; training stopped."""


@dataclass
class History:
    """What `fit` measured.

    losses: name -> one float per step (the step_fn's dict keys; "loss" for a scalar).
    steps: optimisation steps taken; epochs: full passes finished; seconds: wall time.
    """

    losses: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0
    epochs: int = 0
    seconds: float = 0.0
    stopped_by: str = ""

    def last(self, name: str = "loss", n: int = 50) -> float:
        """Mean of the last `n` values of loss `name`."""
        if name not in self.losses:
            raise KeyError(f"no loss named {name!r} in this history; it has "
                           f"{sorted(self.losses) or 'none (no steps taken)'}")
        n = _count("n", n)
        values = self.losses[name][-n:]
        return sum(values) / len(values)

    def extend(self, other: "History") -> "History":
        """Append a later run's history (to continue training); returns self."""
        if not isinstance(other, History):
            raise TypeError(f"extend takes another History, got {type(other).__name__}")
        for k, v in other.losses.items():
            self.losses.setdefault(k, []).extend(v)
        self.steps += other.steps
        self.epochs += other.epochs
        self.seconds += other.seconds
        self.stopped_by = other.stopped_by
        return self


def fit(step_fn: Callable[[object], object], batches: Iterable, *, steps: int | None = None,
        epochs: int | None = None, minutes: float | None = None,
        callback: Callable[[int, History], None] | None = None, every: int = 100,
        progress: bool = True, desc: str = "training") -> History:
    """Call `step_fn` on minibatches until a budget runs out; return the `History`.

    step_fn: does one step on a batch, returns a loss or a dict of losses.
    batches: re-iterable (e.g. `data.batches(...)`); each pass is one epoch.
    steps / epochs / minutes: budgets; training stops at whichever is reached first.
        At least one is required.
    callback(step, history): called every `every` steps and once at the end, e.g. to
        keep sample snapshots for a widget.
    Raises `TrainingDiverged` naming the step if a loss is NaN or infinite.
    """
    if not callable(step_fn):
        raise TypeError(f"step_fn must be a function step_fn(batch) -> loss, got "
                        f"{type(step_fn).__name__}")
    if not hasattr(batches, "__iter__"):
        raise TypeError(f"batches must be re-iterable (e.g. data.batches(...) or a list of "
                        f"batches), got {type(batches).__name__}")
    if steps is None and epochs is None and minutes is None:
        raise ValueError("fit needs a budget: give steps=, epochs= or minutes=")
    steps = _count("steps", steps)
    epochs = _count("epochs", epochs)
    every = _count("every", every)
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, numbers.Real):
            raise TypeError(f"minutes must be a number, got {type(minutes).__name__} {minutes!r}")
        if not (math.isfinite(minutes) and minutes > 0):
            raise ValueError(f"minutes must be a positive finite number, got {minutes!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function callback(step, history), got "
                        f"{type(callback).__name__}")

    history = History()
    total = steps
    if total is None and epochs is not None and hasattr(batches, "__len__"):
        total = epochs * len(batches)
    bar, shown = _progress_bar(total, desc, progress)
    start = time.perf_counter()
    deadline = start + 60.0 * minutes if minutes is not None else math.inf
    running = None
    try:
        while history.stopped_by == "":
            took_one = False
            for batch in batches:
                took_one = True
                values = _as_floats(step_fn(batch))
                history.steps += 1
                for k, v in values.items():
                    if not math.isfinite(v):
                        raise TrainingDiverged(
                            f"loss {k!r} became {v} at step {history.steps}; training stopped. "
                            f"Try a lower learning rate or check the inputs of the loss.")
                    history.losses.setdefault(k, []).append(v)
                main = values.get("loss", next(iter(values.values())))
                running = main if running is None else 0.98 * running + 0.02 * main
                bar.update(1)
                if history.steps % 10 == 0 or history.steps == 1:
                    bar.set_postfix(loss=f"{running:.4g}")
                if callback is not None and history.steps % every == 0:
                    callback(history.steps, history)
                if steps is not None and history.steps >= steps:
                    history.stopped_by = "steps"
                elif time.perf_counter() >= deadline:
                    history.stopped_by = "minutes"
                if history.stopped_by:
                    break
            else:
                if not took_one:
                    if history.steps:
                        raise ValueError(
                            f"batches yielded nothing on pass {history.epochs + 1}: a generator "
                            f"or iterator can be read only once; pass something re-iterable, "
                            f"such as data.batches(...) or a list of batches")
                    raise ValueError("the batches yielded nothing: is the data smaller than one "
                                     "batch? (data.batches drops the last incomplete batch)")
                history.epochs += 1
                if epochs is not None and history.epochs >= epochs:
                    history.stopped_by = "epochs"
                elif time.perf_counter() >= deadline:
                    history.stopped_by = "minutes"
    finally:
        history.seconds = time.perf_counter() - start
        bar.close()
        if shown is not None:
            shown.update(bar.container)   # the saved output's text becomes the finished bar
    if callback is not None and history.steps % every != 0:
        callback(history.steps, history)
    return history


def recipe(recipes: Mapping[str, dict], name: str, family: str, overrides: Mapping,
           epochs: int | None = None) -> dict:
    """A copy of `recipes[name]` with `overrides` applied and `epochs` set if given.

    The model files keep their shipped checkpoints' settings in a RECIPES dict and let a
    learner change any of them by keyword; a misspelt name is a clear error, not ignored.
    family names the model family in the messages, e.g. "VAE".
    """
    if name not in recipes:
        raise ValueError(f"no {family} recipe named {name!r}; recipes: {', '.join(recipes)}")
    settings = dict(recipes[name])
    unknown = set(overrides) - set(settings)
    if unknown:
        raise TypeError(f"unknown recipe settings {sorted(unknown)}; known: {sorted(settings)}")
    settings.update(overrides)
    if epochs is not None:
        settings["epochs"] = _count("epochs", epochs)
    return settings


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int,
                    floor: float = 0.05) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning rate cosine-annealed from its start to `floor` times it over
    `total_steps` optimizer steps (then held there); call `.step()` after each step."""
    total = _count("total_steps", total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda t: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, total) / total)))


def _progress_bar(total, desc: str, progress: bool):
    """(bar, display handle): tqdm.auto's bar, and in a notebook the handle it is shown with.

    A notebook bar is a widget whose plain-text form is taken when it is first shown,
    so a saved notebook read without widgets (GitHub, an untrusted notebook) would show
    a frozen "0%". Shown with a display id, it is redisplayed once finished.
    """
    from tqdm.notebook import tqdm_notebook

    if progress and isinstance(tqdm, type) and issubclass(tqdm, tqdm_notebook):
        from IPython.display import display

        bar = tqdm(total=total, desc=desc, leave=True, display=False)
        handle = display(bar.container, display_id=True)
        bar.displayed = True
        return bar, handle
    return tqdm(total=total, desc=desc, disable=not progress, leave=True, dynamic_ncols=True), None


def _as_floats(result) -> dict[str, float]:
    """The step's loss(es) as plain floats keyed by name."""
    if isinstance(result, Mapping):
        if not result:
            raise ValueError("step_fn returned an empty dict; return at least one loss")
        return {str(k): _to_float(k, v) for k, v in result.items()}
    return {"loss": _to_float("loss", result)}


def _to_float(name, value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"step_fn's {name!r} is a tensor of shape {tuple(value.shape)}; "
                             f"return a scalar (e.g. loss.mean())")
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"step_fn's {name!r} is a {value.dtype} tensor; return a real loss")
        return float(value.detach())
    # numbers.Real covers python and numpy scalars; a bool is a mistake, not a loss of 1.0.
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    raise TypeError(f"step_fn must return a loss (a scalar tensor or a number) or a dict of "
                    f"them, got {type(value).__name__} {value!r:.40} for {name!r}")


def _count(name: str, value) -> int | None:
    """A budget or interval that must be a positive whole number (or None)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)
