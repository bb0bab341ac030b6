"""Peak memory of one DFB-PNN training step against depth: the working-memory formulas.

For K = 5, 10, 20 (F = 32, 40x40 patches, batch 32, auxiliaries rebuilt per batch) it runs
5 lifted BCD steps and 5 backprop steps, each in a fresh process with
``LIFTINV_MALLOC=strict`` (freed blocks leave the process at once, so the resident peak is
the peak of live memory; see :mod:`liftinv.utils.allocator`), and fits the peaks in units
of one hidden state of the mini-batch, :math:`u = 4sFP^2` bytes, to :math:`aK + c`
(:mod:`liftinv.solvers.aux_memory` states the result).  Writes ``step_memory.{json,md}``.

Usage: ``OMP_NUM_THREADS=1 python3 benchmarks/step_memory.py --out benchmarks/results/step_memory``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEPTHS = (5, 10, 20)
FEATURES, PATCH, BATCH = 32, 40, 32


def measure(depths=DEPTHS, steps: int = 5) -> dict:
    from liftinv.bench.scale import _measure
    from liftinv.denoising.models import default_arch

    unit_mb = BATCH * FEATURES * PATCH * PATCH * 4 / 2**20
    rows = []
    for k in depths:
        arch = default_arch("dfb", 1, PATCH, k, FEATURES)
        for trainer in ("backprop", "lifted"):
            peak = _measure(trainer, arch, BATCH, steps, "cpu", malloc="strict")["peak_memory_mb"]
            rows.append({"trainer": trainer, "depth": k, "peak_mb": peak, "units": peak / unit_mb})
    fits = {}
    for trainer in ("backprop", "lifted"):
        pts = [(r["depth"], r["units"]) for r in rows if r["trainer"] == trainer]
        n, sx, sy = len(pts), sum(x for x, _ in pts), sum(y for _, y in pts)
        slope = (n * sum(x * y for x, y in pts) - sx * sy) / (n * sum(x * x for x, _ in pts) - sx**2)
        fits[trainer] = {"per_layer": slope, "constant": (sy - slope * sx) / n}
    return {"features": FEATURES, "patch": PATCH, "batch": BATCH, "unit_mb": unit_mb, "rows": rows, "fits": fits}


def markdown(report: dict) -> str:
    lines = [f"DFB-PNN, F = {report['features']}, {report['patch']}x{report['patch']} patches, batch "
             f"{report['batch']}, CPU, LIFTINV_MALLOC=strict; unit u = 4 s F P^2 bytes = {report['unit_mb']:.2f} MB.",
             "", "| trainer | K | peak (MB) | peak / u |", "|---|---|---|---|"]
    lines += [f"| {r['trainer']} | {r['depth']} | {r['peak_mb']:.0f} | {r['units']:.1f} |" for r in report["rows"]]
    lines.append("")
    for trainer, f in report["fits"].items():
        lines.append(f"{trainer}: peak ~ ({f['per_layer']:.2f} K + {f['constant']:.1f}) u")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", "--out", default="benchmarks/results/step_memory")
    args = parser.parse_args()
    report = measure()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "step_memory.json").write_text(json.dumps(report, indent=2))
    (out / "step_memory.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
