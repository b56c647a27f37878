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
import os
import pickle
import sys
from pathlib import Path

import torch
from torch import nn

FORMAT = "drawjourney-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or does not fit the model it names."""


STORAGE = ("float32", "float16")


def save(model: nn.Module, path, *, metrics: dict | None = None, note: str = "",
         command: str | None = None, storage: str = "float32") -> Path:
    """Write `model` to `path` (a ``.pt`` file; folders are created). Returns the path.

    metrics: plain numbers or strings measured on the model (e.g. {"test_nll": 86.1}).
    command: how it was made; defaults to this process's command line.
    storage: "float16" halves the file by storing floating-point tensors in half
        precision (integer buffers are kept); `load` casts them back to the model's
        float32. Use it only where the recorded metrics survive the rounding.
    """
    from drawjourney import __version__

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if metrics is not None and not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict of name -> number or string, got "
                        f"{type(metrics).__name__}")
    for name, value in (("note", note), ("command", command)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if storage not in STORAGE:
        raise ValueError(f"storage={storage!r}: use one of {list(STORAGE)}")
    config = getattr(model, "config", None)
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{type(model).__name__} has no dataclass `config`; drawjourney "
                        f"checkpoints rebuild a model as Model(config)")
    path = _as_path(path)
    if path.is_dir():
        raise CheckpointError(f"cannot save a checkpoint to {path}: that is a folder; give a "
                              f"file name such as {path / 'model.pt'}")
    payload = {
        "format": FORMAT,
        "model": _qualname(type(model)),
        "config_class": _qualname(type(config)),
        "config": _plain(dataclasses.asdict(config)),
        "state_dict": {k: _stored(v, storage) for k, v in model.state_dict().items()},
        "metrics": _plain(dict(metrics or {})),
        "provenance": {
            "package_version": __version__,
            "torch_version": str(torch.__version__),
            "command": command if command is not None else " ".join(sys.argv),
            "note": note,
            "storage": storage,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }
    return _write(payload, path)


def _write(payload: dict, path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointError(f"cannot create the folder {path.parent} for {path.name}: "
                              f"{err.strerror or err}") from None
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)  # never leave a half-written checkpoint under the real name
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"cannot write the checkpoint {path}: {err.strerror or err}") from None
    return path


def _stored(tensor: torch.Tensor, storage: str) -> torch.Tensor:
    tensor = tensor.detach().cpu()
    if storage == "float16" and tensor.is_floating_point():
        return tensor.half()
    return tensor


def _as_path(path) -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or pathlib.Path), got {type(path).__name__}")
    if str(path).strip() == "":
        raise ValueError("path is empty; give a checkpoint file such as runs/model.pt")
    return Path(path).expanduser()


def read(path) -> dict:
    """The checkpoint's raw contents (a dict), checked for format; raises `CheckpointError`."""
    path = _as_path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}" +
                              (" (that is a folder)" if path.is_dir() else ""))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):
            raise CheckpointError(
                f"{path} is not a readable drawjourney checkpoint: it is corrupt, truncated or "
                f"a different kind of file. Re-create or re-download it") from None
        # torch's message advises weights_only=False, which would run the file's code:
        # exactly wrong for a file that is not what it claims to be. Say what it means.
        raise CheckpointError(
            f"{path} holds Python objects other than tensors and plain values, so it is not "
            f"a drawjourney checkpoint; drawjourney only loads files that cannot run code "
            f"(weights_only=True). Re-create it with drawjourney.checkpoint.save") from None
    except Exception as err:  # torch raises many kinds for a bad file; all mean the same here
        raise CheckpointError(
            f"{path} is not a readable drawjourney checkpoint: it is corrupt, truncated or a "
            f"different kind of file ({type(err).__name__}). Re-create or re-download it") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a torch file but not a drawjourney checkpoint "
                              f"(expected format {FORMAT!r})")
    missing = [k for k in ("model", "config_class", "config", "state_dict", "metrics",
                           "provenance") if k not in payload]
    if missing:
        raise CheckpointError(f"{path} is an incomplete drawjourney checkpoint: no {missing}")
    return payload


def record_metrics(path, metrics: dict) -> Path:
    """Add `metrics` (name -> number or string) to the checkpoint at `path`, in place.

    Metrics measured after training (a test NLL, FID-MNIST) join those recorded when it
    was made; a name measured again takes the new value. The weights are untouched.
    """
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict of name -> number or string, got "
                        f"{type(metrics).__name__}")
    payload = read(path)
    payload["metrics"] = {**payload["metrics"], **_plain(metrics)}
    return _write(payload, _as_path(path))


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

    runtime.device(device)  # a bad device is reported before the file is read
    payload = read(path)
    model_cls = _resolve(payload["model"], path)
    config_cls = _resolve(payload["config_class"], path)
    if expect is not None and not isinstance(expect, type):
        raise TypeError(f"expect must be a model class, got {type(expect).__name__}")
    if expect is not None and model_cls is not expect:
        raise CheckpointError(f"{path} holds a {payload['model']}, not a {_qualname(expect)}")
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(payload["config"]) - fields
    if unknown:
        raise CheckpointError(f"{path}: config fields {sorted(unknown)} are unknown to "
                              f"{payload['config_class']} (made by another package version?)")
    try:
        config = config_cls(**{k: _restore(v) for k, v in payload["config"].items()})
        model = model_cls(config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its config does not build a {payload['model']}: {err}") from None
    try:
        result = model.load_state_dict(payload["state_dict"], strict=False)
    except RuntimeError as err:  # shapes differ from what the config builds
        raise CheckpointError(f"{path} does not fit {payload['model']}: {err}") from None
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f"{path} does not fit {payload['model']}: missing "
                              f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    model.checkpoint_info = {k: _restore(payload[k]) for k in ("metrics", "provenance")}
    return model.to(runtime.device(device)).eval()


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
