"""Save and load models with what they are and how they were made.

One file holds the model's class and frozen config, its state_dict, its metrics and its
provenance (package and torch versions, the command, a note, the time). Loading uses
``torch.load(weights_only=True)``: a checkpoint can hold tensors and plain values only,
never code. Every model of the course takes its config as the one argument of
``__init__`` and keeps it as ``self.config``; `load` rebuilds it from that.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import sys
from pathlib import Path

import torch
from torch import nn

FORMAT = "drawjourney-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or does not fit the model it names."""


def save(model: nn.Module, path, *, metrics: dict | None = None, note: str = "",
         command: str | None = None) -> Path:
    """Write `model` to `path` (a ``.pt`` file; folders are created). Returns the path.

    metrics: plain numbers or strings measured on the model (e.g. {"test_nll": 86.1}).
    command: how it was made; defaults to this process's command line.
    """
    from drawjourney import __version__

    config = getattr(model, "config", None)
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{type(model).__name__} has no dataclass `config`; drawjourney "
                        f"checkpoints rebuild a model as Model(config)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model": _qualname(type(model)),
        "config_class": _qualname(type(config)),
        "config": _plain(dataclasses.asdict(config)),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": _plain(dict(metrics or {})),
        "provenance": {
            "package_version": __version__,
            "torch_version": str(torch.__version__),
            "command": command if command is not None else " ".join(sys.argv),
            "note": note,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint under the real name
    return path


def read(path) -> dict:
    """The checkpoint's raw contents (a dict), checked for format; raises `CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}" +
                              (" (that is a folder)" if path.is_dir() else ""))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a bad file; all mean the same here
        raise CheckpointError(f"{path} is not a readable drawjourney checkpoint "
                              f"(corrupt or a different kind of file): {err}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a torch file but not a drawjourney checkpoint "
                              f"(expected format {FORMAT!r})")
    return payload


def info(path) -> dict:
    """Metadata of a checkpoint without building the model: model, config, metrics, provenance."""
    payload = read(path)
    return {k: _restore(payload[k]) for k in ("model", "config", "metrics", "provenance")}


def load(path, *, device=None, expect: type | None = None) -> nn.Module:
    """Rebuild the model saved at `path`, on `device` (default `runtime.device()`), in eval mode.

    expect: if given, the model class the caller needs; another class is a `CheckpointError`.
    The model, its metrics and provenance are attached as ``model.checkpoint_info``.
    """
    from drawjourney import runtime

    payload = read(path)
    model_cls = _resolve(payload["model"], path)
    config_cls = _resolve(payload["config_class"], path)
    if expect is not None and model_cls is not expect:
        raise CheckpointError(f"{path} holds a {payload['model']}, not a {_qualname(expect)}")
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(payload["config"]) - fields
    if unknown:
        raise CheckpointError(f"{path}: config fields {sorted(unknown)} are unknown to "
                              f"{payload['config_class']} (made by another package version?)")
    config = config_cls(**{k: _restore(v) for k, v in payload["config"].items()})
    model = model_cls(config)
    try:
        result = model.load_state_dict(payload["state_dict"], strict=False)
    except RuntimeError as err:  # shapes differ from what the config builds
        raise CheckpointError(f"{path} does not fit {payload['model']}: {err}") from None
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f"{path} does not fit {payload['model']}: missing "
                              f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    model.checkpoint_info = {k: _restore(payload[k]) for k in ("metrics", "provenance")}
    return model.to(runtime.device() if device is None else device).eval()


def _qualname(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(name: str, path) -> type:
    """The class named 'module:Qualname'; only drawjourney's own modules are imported."""
    module_name, _, attr = name.partition(":")
    if not module_name.startswith("drawjourney"):
        raise CheckpointError(f"{path} names {name!r}; only drawjourney classes can be loaded")
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise CheckpointError(f"{path} names {name!r}, which this version of drawjourney "
                              f"does not have") from None
    return obj


def _plain(value):
    """Values weights_only can read: tuples become lists tagged so they come back as tuples."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return {"__tuple__": [_plain(v) for v in value]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint; use numbers, "
                    f"strings, lists, tuples, dicts or tensors")


def _restore(value):
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_restore(v) for v in value["__tuple__"])
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    return value
