"""The bench harness measures any registered family; it knows none by name."""
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from drawjourney import bench, data
from drawjourney.__main__ import main


@dataclass(frozen=True)
class MeanConfig:
    size: int = 28


class MeanImages(nn.Module):
    """A 'model' that draws class-mean digits: conditional, trivial, fast."""

    def __init__(self, config: MeanConfig):
        super().__init__()
        self.config = config
        self.register_buffer("means", torch.zeros(10, 1, config.size, config.size))
        self.bias = nn.Parameter(torch.zeros(1))


def _train(minutes, device):
    test = data.mnist("test", size=28, device=device)
    model = MeanImages(MeanConfig()).to(device)
    for k in range(10):
        model.means[k] = test.images[test.labels == k].mean(0)
    return model


def _sample(model, n, labels):
    return model.means[labels]


FAMILY = bench.Family(name="class-means", description="class-mean images (test fixture)",
                      model_class=MeanImages, train=_train, sample=_sample, conditional=True,
                      likelihood=lambda model: (1.5, "nats"))


def test_measure_family_reports_the_common_numbers(data_root):
    result = bench.measure_family(FAMILY, minutes=0.1, n_samples=600)
    assert result["family"] == "class-means"
    assert result["parameters"] == 1
    assert result["likelihood"] == 1.5 and result["likelihood_unit"] == "nats"
    # Class means are recognisable digits but far from real ones in feature statistics.
    assert result["label_accuracy"] > 0.9
    assert result["fid_mnist"] > 1.0
    assert result["sample_seconds_per_100"] >= 0 and result["train_seconds"] >= 0
    table = bench.markdown_table([result])
    assert "class-means" in table and "FID-MNIST" in table


def test_likelihood_extras_reach_the_checkpoint_metrics(data_root):
    """A family may report more than one likelihood number (IWAE and the -ELBO bound)."""
    import dataclasses

    extras = {"test_nll_bound_nats": 2.5, "test_nll_estimator": "IWAE k=7"}
    family = dataclasses.replace(FAMILY, likelihood=lambda model: (1.5, "nats", extras))
    result = bench.measure_family(family, minutes=0.1, n_samples=100)
    recorded = bench.checkpoint_metrics(result)
    assert recorded["test_nll_nats"] == 1.5
    assert recorded["test_nll_bound_nats"] == 2.5
    assert recorded["test_nll_estimator"] == "IWAE k=7"
    assert "likelihood" not in recorded


def test_test_metrics_of_a_family_without_a_likelihood_reach_the_checkpoint(data_root):
    """A family with no likelihood (diffusion) records its own test-set numbers."""
    import dataclasses

    family = dataclasses.replace(FAMILY, likelihood=None,
                                 test_metrics=lambda model: {"test_eps_mse": 0.25})
    result = bench.measure_family(family, minutes=0.1, n_samples=100)
    recorded = bench.checkpoint_metrics(result)
    assert recorded["test_eps_mse"] == 0.25 and "test_nll_nats" not in recorded
    bad = dataclasses.replace(family, test_metrics=lambda model: {"eps_mse": 0.25})
    with pytest.raises(ValueError, match="must start with 'test_'"):
        bench.measure_family(bad, minutes=0.1, n_samples=100)


def test_sampler_metrics_are_given_the_sample_count_and_reach_the_checkpoint(data_root):
    """A family may measure its other samplers (diffusion: DDPM-1000 against DDIM-50)."""
    import dataclasses

    seen = []

    def sampler_metrics(model, n_samples):
        seen.append(n_samples)
        return {"ddpm1000_fid_mnist": 3.5}

    family = dataclasses.replace(FAMILY, sampler_metrics=sampler_metrics)
    result = bench.measure_family(family, minutes=0.1, n_samples=100)
    assert seen == [100]
    assert bench.checkpoint_metrics(result)["ddpm1000_fid_mnist"] == 3.5
    clash = dataclasses.replace(FAMILY, sampler_metrics=lambda model, n: {"fid_mnist": 0.0})
    with pytest.raises(ValueError, match="clash"):
        bench.measure_family(clash, minutes=0.1, n_samples=100)


def test_a_model_trained_by_the_harness_is_saved_with_its_record(data_root, tmp_path):
    from drawjourney import checkpoint

    result = bench.measure_family(FAMILY, minutes=0.1, n_samples=100, save_to=tmp_path / "m.pt")
    saved = checkpoint.info(tmp_path / "m.pt")["metrics"]
    assert saved["hardware"] == result["device"]
    assert saved["fid_mnist"] == result["fid_mnist"] and saved["train_seconds"] >= 0


def test_registered_families_are_found_without_naming_them():
    families = bench.families()
    assert {"mlp", "conv", "rbm", "vae", "cvae", "draw", "draw_noattn", "draw_cond"} <= set(families)
    assert all(isinstance(f, bench.Family) for f in families.values())


def test_measure_data_compares_with_dataloader(data_root):
    result = bench.measure_data(split="test", batch_size=64, max_batches=20)
    assert result["batches_timed"] == 20
    assert result["drawjourney_batches_per_s"] > 0 and result["dataloader_batches_per_s"] > 0
    assert result["device"] == "cpu"


def test_measure_family_uses_the_device_it_is_given_throughout(monkeypatch, data_root):
    # With a broken default device, any step that fell back to runtime.device() would fail.
    monkeypatch.setenv("DRAWJOURNEY_DEVICE", "gpu")
    result = bench.measure_family(FAMILY, minutes=0.1, n_samples=200, device="cpu")
    assert result["device"].startswith("CPU") and result["label_accuracy"] > 0.9


@pytest.mark.parametrize("kwargs,match", [
    ({"n_samples": 0}, "n_samples must be a positive int"),
    ({"n_samples": 1}, "n_samples must be at least 2"),
    ({"n_samples": 10.5}, "n_samples must be a positive int"),
    ({"minutes": float("nan")}, "minutes must be a positive finite number"),
    ({"minutes": -1}, "minutes must be a positive finite number"),
    ({"device": "gpu"}, "device='gpu'"),
])
def test_measure_family_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.measure_family(FAMILY, **kwargs)


def test_measure_family_wants_a_family():
    with pytest.raises(TypeError, match="family must be a bench.Family"):
        bench.measure_family("mlp")


@pytest.mark.parametrize("argv,match", [
    (["sample", "mlp", "--checkpoint", "x.pt", "--n", "-5"], "must be positive, got -5"),
    (["sample", "mlp", "--checkpoint", "x.pt", "--n", "many"], "'many' is not a whole number"),
    (["bench", "mlp", "--checkpoint", "mlp.pt"], "'mlp.pt' is not FAMILY=PATH"),
    (["bench", "mlp", "--samples", "0"], "must be positive, got 0"),
    (["bench", "mlp", "--samples", "1"], "needs at least 2 samples"),
    (["bench", "mlp", "--minutes", "nan"], "must be a positive number of minutes"),
    (["train", "mlp", "--minutes", "-2"], "must be a positive number of minutes"),
])
def test_cli_rejects_bad_arguments_with_usage(capsys, argv, match):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert re.search(match, capsys.readouterr().err)


@pytest.mark.parametrize("argv,match", [
    (["bench", "mlp", "--checkpoint", "mpl=runs/mlp.pt"], "no family 'mpl'"),
    (["bench", "data", "--checkpoint", "mlp=runs/mlp.pt"], "'mlp' is not among the families"),
    (["sample", "mlp", "--checkpoint", "missing.pt"], "no checkpoint at missing.pt"),
    (["sample", "mlp", "--checkpoint", "x.pt", "--out", "."], "give an image file name"),
    (["info", "missing.pt"], "no checkpoint at missing.pt"),
])
def test_cli_refuses_what_does_not_exist_before_any_work(capsys, argv, match):
    assert main(argv) == 2
    assert re.search(match, capsys.readouterr().err)


def test_cli_train_judge_never_replaces_the_shipped_judge_by_default(monkeypatch, capsys):
    from drawjourney import metrics

    written = []
    monkeypatch.setattr(metrics, "train_and_save_judge",
                        lambda path, minutes=None: (written.append(path) or Path(path), 0.99))
    assert main(["train", "judge"]) == 0
    assert written == [Path("runs") / "judge.pt"]
    assert "shipped judge is unchanged" in capsys.readouterr().out


def test_cli_bench_list_and_unknown_family(capsys):
    assert main(["bench", "--list"]) == 0
    assert "mlp" in capsys.readouterr().out
    assert main(["bench", "no-such-family"]) == 2
    assert "no family" in capsys.readouterr().err


def test_cli_trains_samples_and_benches_mlp_from_a_checkpoint(tmp_path, data_root, capsys):
    ckpt = tmp_path / "mlp.pt"
    assert main(["train", "mlp", "--minutes", "0.05", "--out", str(ckpt)]) == 0
    assert main(["sample", "mlp", "--checkpoint", str(ckpt), "--n", "20",
                 "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    out = tmp_path / "bench.json"
    assert main(["bench", "mlp", "--checkpoint", f"mlp={ckpt}", "--samples", "500",
                 "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results[0]["family"] == "mlp" and 0.0 <= results[0]["label_accuracy"] <= 1.0
    assert out.with_suffix(".md").read_text().startswith("| family")


def test_cli_train_records_recipe_hardware_and_wall_time_then_bench_records_metrics(tmp_path, data_root):
    from drawjourney import checkpoint

    ckpt = tmp_path / "mlp.pt"
    assert main(["train", "mlp", "--minutes", "0.02", "--out", str(ckpt)]) == 0
    info = checkpoint.info(ckpt)
    assert info["provenance"]["command"] == f"python -m drawjourney train mlp --minutes 0.02 --out {ckpt}"
    assert info["metrics"]["hardware"].startswith("CPU") and info["metrics"]["train_seconds"] > 0
    assert main(["bench", "mlp", "--checkpoint", f"mlp={ckpt}", "--samples", "200", "--record"]) == 0
    metrics = checkpoint.info(ckpt)["metrics"]
    assert 0 <= metrics["label_accuracy"] <= 1 and metrics["fid_mnist"] > 0
    assert metrics["train_seconds"] == info["metrics"]["train_seconds"]
