"""Smoke test of benchmarks/deep_networks.py: a --quick run writes complete, sane outputs."""

from __future__ import annotations

import itertools
import json
import math

import pytest


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, load_script):
    bench = load_script("benchmarks/deep_networks.py")
    out = tmp_path_factory.mktemp("deep")
    result = bench.main(["--quick", "--out", str(out), "--no-progress"])
    return bench, out, result


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _cells(settings):
    return list(itertools.product(settings["depths"], settings["activations"]))


def test_every_cell_and_method_is_run_or_skipped_with_a_reason(quick_run):
    bench, out, result = quick_run
    data = json.loads((out / "deep_networks.json").read_text())
    assert data == json.loads(json.dumps(result))  # what main returns is what it wrote
    assert set(bench.METHODS) == {"lifted-bregman-matched", "lifted-bregman-mirror", "lifted-bregman-geometric",
                                  "lifted-bregman", "lifted-bregman-aux", "mac", "lifted-fenchel-mirror",
                                  "adam-backprop"}
    s = data["settings"]
    assert s["quick"] is True and s["budget"] == 0.5 and s["depths"] == [3, 6] and len(s["activations"]) == 2
    for key in ("command", "torch", "threads", "cpu", "device"):
        assert data["machine"][key] not in (None, "")
    assert data["machine"]["command"].startswith("python3 benchmarks/deep_networks.py --quick")
    keys = [(r["depth"], r["activation"], r["method"]) for r in data["records"]]
    assert sorted(keys) == sorted((d, a, m) for d, a in _cells(s) for m in bench.METHODS)

    for r in data["records"]:
        if r["skipped"]:
            assert r["method"] != "adam-backprop" and isinstance(r["reason"], str) and r["reason"]
            continue
        for key in ("train_loss", "test_loss", "seconds", "ms_per_step", "test_loss_ratio"):
            assert _finite(r[key]) and r[key] > 0, (r["depth"], r["activation"], r["method"], key, r[key])
        assert isinstance(r["steps"], int) and r["steps"] > 0
        assert r["seconds"] >= s["budget"]  # the budget is checked after every step
        assert r["ms_per_step"] == pytest.approx(1e3 * r["seconds"] / r["steps"])
        assert r["settings"]["batch_size"] == 64
        if r["method"] == "adam-backprop":
            assert r["test_loss_ratio"] == pytest.approx(1.0)
        else:
            penalty, gradient, aux_step = bench.METHODS[r["method"]]
            assert r["settings"]["penalty"] == penalty and r["settings"]["gradient"] == gradient
            assert r["settings"]["aux_step"] == aux_step
            assert r["settings"]["order"] == "backward"
            if r["method"].endswith("-geometric"):  # lam_l = 10 * 0.2^(L-1-l), aux steps 1.9 / L_m
                lam = r["settings"]["lam"]
                assert len(lam) == r["depth"] and lam[-1] == 10.0 and r["settings"]["step_scale"] == 1.9
                assert all(a == pytest.approx(0.2 * b) for a, b in zip(lam, lam[1:]))
            else:  # Fenchel: its authors' weight 1
                assert r["settings"]["lam"] == (1.0 if penalty == "fenchel" else 10.0)


def test_diagnostics_per_layer(quick_run):
    _, _, result = quick_run
    for depth, act in _cells(result["settings"]):
        rows = [r for r in result["records"] if r["depth"] == depth and r["activation"] == act and not r["skipped"]]
        inits = [r["diagnostics"]["init"] for r in rows]
        assert all(d == inits[0] for d in inits)  # same initial weights for every method of a cell
        for r in rows:
            for when in ("init", "final"):
                d = r["diagnostics"][when]
                assert d["batch"] == 256 and _finite(d["loss"]) and d["loss"] > 0
                for key in ("backprop_grad_norm", "lifted_grad_norm", "cosine", "lifted_aux_grad_norm", "aux_cosine"):
                    assert len(d[key]) == depth + 1, key
                assert len(d["lifted_signal_norm"]) == depth  # hidden layers only
                for key in ("backprop_grad_norm", "lifted_grad_norm", "lifted_signal_norm", "lifted_aux_grad_norm"):
                    assert all(_finite(v) and v >= 0 for v in d[key]), key
                assert all(c is None or -1.0 - 1e-6 <= c <= 1.0 + 1e-6 for c in d["cosine"] + d["aux_cosine"])
                # the output layer's forward-anchored lifted gradient is the exact loss gradient
                assert d["cosine"][-1] > 0.99, (depth, act, r["method"], when, d["cosine"])
                assert d["lifted_grad_norm"][-1] == pytest.approx(d["backprop_grad_norm"][-1], rel=1e-4)
                # one backward sweep from the forward pass moves the last hidden layer
                assert d["lifted_signal_norm"][-1] > 0


def test_summary_and_markdown(quick_run):
    bench, out, result = quick_run
    s = result["settings"]
    summary = result["summary"]
    assert summary["target"] == 2.0 and len(summary["cells"]) == len(_cells(s))
    for c in summary["cells"]:
        rows = {r["method"]: r for r in result["records"]
                if r["depth"] == c["depth"] and r["activation"] == c["activation"] and not r["skipped"]}
        assert c["best"] == min(rows, key=lambda m: rows[m]["test_loss"])
        ref = rows["adam-backprop"]["test_loss"]
        assert c["winners"] == [m for m in bench.LIFTED if m in rows and 2.0 * rows[m]["test_loss"] <= ref]
        assert c["lifted_2x_lower"] == bool(c["winners"])
    assert summary["found"] == any(c["lifted_2x_lower"] for c in summary["cells"])

    md = (out / "deep_networks.md").read_text()
    assert result["machine"]["command"] in md and "0.50 means nothing learned" in md
    for act in s["activations"]:
        assert f"## {act}: test loss" in md
    loss_tables = md.split("## Signals")[0].splitlines()
    for depth in s["depths"]:  # one row per depth in each activation's table
        assert sum(ln.startswith(f"| {depth} | ") for ln in loss_tables) == len(s["activations"])
    assert sum(ln.startswith("- depth ") and "best `" in ln for ln in md.splitlines()) == len(_cells(s))
    assert ("**None found**" in md) != summary["found"]
    for name in ("deep_networks.png", "deep_networks_signals.png"):
        png = (out / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(png) < 500_000
