r"""``liftinv bench scale``: throughput, memory and data-parallel scaling of lifted training.

On the same DFB-PNN, the same batch of noisy patches and the same device, it measures

* **steps**: seconds per step, patches per second and peak memory of a lifted BCD step and
  of a backprop (Adam) step, each in a fresh process (so that the peak belongs to it);
  the convolution FLOPs per step and the rate they run at;
* **data parallel**: the throughput of one single-threaded process against ``nproc``
  single-threaded processes (gloo), each stepping on its own ``batch`` patches (weak
  scaling: the global batch grows with the processes; gradients are all-reduced);
* **layer batching**: the even layers' convolutions of an auxiliary sweep one by one
  against all at once (independent layers updated together; grouped convolutions on
  CUDA, batched matrix products on the CPU), and whole lifted steps with the even/odd
  sweep layer by layer against batched per colour group (``BCD(layer_batching=True)``);
* **memory**: the peak resident memory of lifted training with auxiliaries rebuilt per
  batch (``aux='forward'``) and kept per sample on the device or in a memory-mapped file,
  next to the formula :math:`M_\text{keep} = 4nKFP^2` bytes (see
  :mod:`liftinv.solvers.aux_memory`).

Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU, the process's peak
resident set (``VmHWM``, reset once the data are loaded) minus its size at that moment,
in separate runs with ``LIFTINV_MALLOC=strict`` (freed blocks leave the process at once,
so the resident peak is the peak of live memory; the timing runs keep freed memory, as
training does, and report no peak).  FLOPs count the
multiply-adds of the convolutions (2 per multiply-add): a DFB layer applies :math:`D_k`
and :math:`D_k^*` (:math:`2\cdot 2FCk^2P^2` per patch); a backprop step is counted as 3
forward passes (forward, and the two products of backward).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import warnings
from pathlib import Path

from ..restoration.arguments import nonneg_int, positive_float, positive_int
from . import add_common_arguments, print_report

HELP = "lifted vs backprop step throughput and memory, 1 vs N processes, kept-auxiliary memory"

# torch is imported inside the functions: this module is loaded by ``liftinv --help``.

#: Dense TF32 tensor-core peaks (TFLOP/s) from NVIDIA's data sheets (the "with sparsity"
#: figures halved), keyed by a substring of ``torch.cuda.get_device_name``; ``--peak-tflops``
#: gives any other device's.
TF32_PEAK_TFLOPS = {"H200": 494.7, "H100 PCIe": 378.0, "H100": 494.7, "A100": 156.0}


def tf32_peak_tflops(device_name: str) -> float | None:
    """The data-sheet TF32 peak of a device, or None when it is not in :data:`TF32_PEAK_TFLOPS`."""
    return next((v for k, v in TF32_PEAK_TFLOPS.items() if k in device_name), None)


def share_of_peak(conv_gflops_per_second: float, peak_tflops: float | None) -> float | None:
    """The convolutions' share of a TF32 peak (GFLOP/s against TFLOP/s), None without a peak.

    >>> share_of_peak(49470.0, 494.7)
    0.1
    """
    return None if peak_tflops is None else conv_gflops_per_second / (peak_tflops * 1e3)


def _reset_peak_rss() -> None:
    """Reset the kernel's resident-set high-water mark (Linux >= 4.0; otherwise a no-op)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # pragma: no cover - not Linux, or not permitted
        pass


def _rss_mb(field: str = "VmHWM") -> float:
    """Resident memory of this process in MB: the peak (``VmHWM``) or the current (``VmRSS``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batch(arch: dict, batch: int, sigma: float, seed: int = 0):
    import torch

    from ..data import load_embedded
    from ..restoration import TrainConfig, training_patches

    config = TrainConfig(patch=arch["patch"], max_patches=batch, seed=seed, epochs=1)
    patches = training_patches(load_embedded("train"), config)
    noisy = patches + sigma * torch.randn(patches.shape, generator=torch.Generator().manual_seed(seed))
    return noisy, patches


def conv_flops(arch: dict, trainer: str) -> float:
    """Convolution FLOPs per patch of one training step (see the module docstring)."""
    k, f, c, p = arch["kernel_size"], arch["features"], arch["channels"], arch["patch"]
    forward = (arch["depth"] + 1) * 2 * (2 * f * c * k * k * p * p)
    return 3 * forward


def _time_trainer(trainer: str, arch: dict, batch: int, steps: int, device: str, out: str,
                  aux: str = "forward", storage: str = "device", n_keep: int = 0) -> None:
    """Worker: time ``steps`` steps of ``trainer`` (after warm-up) and write a JSON record."""
    import torch

    from ..distributed import all_reduce_scalars, rank, rank_device, world_size
    from ..restoration import TrainConfig, build_network, make_solver, peak_memory_mb
    from ..solvers import KeptAux

    dev = rank_device(device)
    x, y = _batch(arch, batch, 25 / 255, seed=rank())
    x, y = x.to(dev), y.to(dev)
    # torch imports its compiler stack (about 150 MB resident) when the first optimizer is built:
    # build a throwaway one first, so that the baseline holds the libraries and the peak only training
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1, device=dev))])
    base = _rss_mb("VmRSS")
    _reset_peak_rss()
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats(dev)
    options = {"aux": KeptAux(storage=storage)} if aux == "keep" else {}
    solver = make_solver(build_network(arch, device=dev, seed=0), TrainConfig(trainer=trainer, epochs=1), **options)
    solver.prepare(max(n_keep, batch))
    n_batches = max(n_keep // batch, 1)
    index = [torch.arange(i * batch, (i + 1) * batch, device=dev) for i in range(n_batches)]
    for i in range(min(3, steps)):  # warm-up (and, with kept auxiliaries, fill them)
        solver.step_batch(x, y, index[i % n_batches])
    for i in range(3, n_batches):
        solver.step_batch(x, y, index[i])
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for i in range(steps):
        solver.step_batch(x, y, index[i % n_batches])
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = all_reduce_scalars([(time.perf_counter() - t0) / steps], op="max")[0]
    record = {
        "trainer": trainer, "aux": aux, "storage": storage if aux == "keep" else None,
        "processes": world_size(), "threads": torch.get_num_threads(), "device": str(dev),
        "batch_per_process": batch, "seconds_per_step": seconds,
        "patches_per_second": world_size() * batch / seconds,
        "conv_gflops_per_second": world_size() * conv_flops(arch, trainer) * batch / seconds / 1e9,  # all ranks
    }
    if dev.type == "cuda":
        record["peak_memory_mb"] = peak_memory_mb(dev)
        record["device_name"] = torch.cuda.get_device_name(dev)
        record["tf32"] = True
    elif os.environ.get("LIFTINV_MALLOC") == "strict":  # the resident peak is the live peak
        record["peak_memory_mb"] = _rss_mb() - base
    else:  # freed memory stays resident (liftinv.utils.allocator): no peak of live memory
        record["peak_memory_mb"] = None
    if aux == "keep":
        record["n_kept"] = n_batches * batch
        record["formula_mb"] = solver.memory.nbytes / 2**20
    if rank() == 0:
        Path(out).write_text(json.dumps(record))


def layer_batching(arch: dict, batch: int, device, repeats: int = 20) -> dict:
    r"""Seconds for the :math:`\lceil K/2\rceil` products :math:`D_kD_k^*u_k` of one colour
    group (the even layers), layer by layer against all layers at once.

    This is the kernel of an even/odd auxiliary sweep of the DFB-PNN: the layers of a group
    are independent.  Layer by layer uses the kernels the solvers run
    (:mod:`liftinv.models.same_conv`); all at once is one grouped convolution pair
    (``groups = K/2``) on CUDA and, on the CPU, the same matrix products batched over the
    layers (one ``unfold``/``fold`` over layers and samples, one broadcast ``matmul``).
    """
    import torch
    import torch.nn.functional as F

    from ..models.same_conv import same_conv, same_conv_adjoint

    dev = torch.device(device)
    g, f, c, k, p = (arch["depth"] + 1) // 2, arch["features"], arch["channels"], arch["kernel_size"], arch["patch"]
    gen = torch.Generator().manual_seed(0)
    ws = [torch.randn(f, c, k, k, generator=gen).to(dev) for _ in range(g)]
    us = [torch.randn(batch, f, p, p, generator=gen).to(dev) for _ in range(g)]
    w_all, u_all = torch.cat(ws), torch.cat(us, 1)
    mats = w_all.reshape(g, f, c * k * k)  # layer j's kernel as an F x Ck^2 matrix

    def loop():
        return [same_conv(same_conv_adjoint(u, w), w) for u, w in zip(us, ws)]

    def grouped():
        if dev.type == "cuda":
            return F.conv2d(F.conv_transpose2d(u_all, w_all, padding=k // 2, groups=g), w_all,
                            padding=k // 2, groups=g)
        cols = torch.matmul(mats.transpose(1, 2), u_all.reshape(batch, g, f, p * p))  # (B, g, Ck^2, P^2)
        x = F.fold(cols.reshape(batch * g, c * k * k, p * p), (p, p), k, padding=k // 2)
        cols = F.unfold(x, k, padding=k // 2).reshape(batch, g, c * k * k, p * p)
        return torch.matmul(mats, cols).reshape(batch, g * f, p, p)

    def clock(fn):
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            times.append(time.perf_counter() - t0)
        return sorted(times)[repeats // 2]

    err = float((torch.cat(loop(), 1) - grouped()).abs().max())
    t_loop, t_grouped = clock(loop), clock(grouped)
    return {"layers": g, "loop_seconds": t_loop, "grouped_seconds": t_grouped,
            "speedup": t_loop / t_grouped, "max_abs_difference": err,
            "solver": solver_layer_batching(arch, batch, dev, repeats=max(repeats // 2, 3))}


def solver_layer_batching(arch: dict, batch: int, device, repeats: int = 10) -> dict:
    """Seconds per lifted step (median) with the auxiliaries swept last layer to first
    (the trainers' default), even/odd layer by layer, and even/odd with each colour
    group batched across its layers (:func:`liftinv.models.dfb.dual_steps`)."""
    import torch

    from ..restoration import TrainConfig, build_network, make_solver
    from . import median_step_seconds

    dev = torch.device(device)
    x, y = _batch(arch, batch, 25 / 255)
    x, y = x.to(dev), y.to(dev)
    out = {}
    for name, order, batched in (("backward", "backward", False), ("even_odd_loop", "even-odd", False),
                                 ("even_odd_batched", "even-odd", True)):
        with warnings.catch_warnings():  # one sweep's cost is measured, not training: its untrained first
            warnings.simplefilter("ignore", UserWarning)  # layers (even-odd from the forward pass) do not matter
            solver = make_solver(build_network(arch, device=dev, seed=0), TrainConfig(epochs=1), order=order,
                                 layer_batching=batched)
        solver.prepare(batch)
        out[name + "_seconds"] = median_step_seconds(solver, x, y, repeats, warmup=2)
    out["speedup"] = out["even_odd_loop_seconds"] / out["even_odd_batched_seconds"]
    return out


def _measure(trainer: str, arch: dict, batch: int, steps: int, device: str, nproc: int = 1,
             threads: int = 1, malloc: str | None = None, **kwargs) -> dict:
    """Run :func:`_time_trainer` in ``nproc`` fresh processes and return rank 0's record;
    ``malloc`` sets their ``LIFTINV_MALLOC`` (see :mod:`liftinv.utils.allocator`)."""
    from ..distributed import launch

    saved = os.environ.get("LIFTINV_MALLOC")
    if malloc is not None:
        os.environ["LIFTINV_MALLOC"] = malloc
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "record.json")
            extra = (kwargs.get("aux", "forward"), kwargs.get("storage", "device"), kwargs.get("n_keep", 0))
            launch(_time_trainer, nproc, trainer, arch, batch, steps, device, out, *extra, threads=threads)
            return json.loads(Path(out).read_text())
    finally:
        if saved is None:
            os.environ.pop("LIFTINV_MALLOC", None)
        else:
            os.environ["LIFTINV_MALLOC"] = saved


def run_scale_benchmark(*, device: str | None = None, depth: int | None = None, features: int | None = None,
                        patch: int = 40, batch: int | None = None, steps: int = 50, nproc: int = 2,
                        threads: int = 1, n_keep: int = 256, peak_tflops: float | None = None,
                        out_dir: str | Path = "results/bench_scale") -> dict:
    """Run the three measurements and write ``scale.json`` and ``scale.md`` to ``out_dir``.

    Defaults follow the device: K = 20, F = 64, batch 128 on CUDA; K = 10, F = 32, batch 32
    on the CPU (the denoising benchmark's network).
    """

    from ..denoising.models import default_arch
    from ..restoration import run_metadata, write_report
    from ..utils.checks import resolve_device

    dev = resolve_device(device)
    gpu = dev.type == "cuda"
    arch = default_arch("dfb", 1, patch, depth or (20 if gpu else 10), features or (64 if gpu else 32))
    batch = batch or (128 if gpu else 32)
    report = {"meta": run_metadata(dev), "device": str(dev), "arch": arch, "batch": batch,
              "steps": steps, "threads_per_process": threads, "steps_records": [], "parallel": [], "memory": []}
    for trainer in ("lifted", "backprop"):
        report["steps_records"].append(_measure(trainer, arch, batch, steps, str(dev), threads=threads))
    lifted, backprop = report["steps_records"]
    report["step_ratio"] = lifted["seconds_per_step"] / backprop["seconds_per_step"]
    if gpu:  # the convolutions' share of the device's TF32 peak
        peak = peak_tflops or tf32_peak_tflops(lifted.get("device_name", ""))
        report["tf32_peak_tflops"] = peak
        for r in report["steps_records"]:
            r["fraction_of_peak"] = share_of_peak(r["conv_gflops_per_second"], peak)
    if not gpu and nproc > 1:
        for trainer in ("lifted", "backprop"):
            one = next(r for r in report["steps_records"] if r["trainer"] == trainer)
            many = _measure(trainer, arch, batch, steps, "cpu", nproc=nproc, threads=threads)
            many["speedup"] = many["patches_per_second"] / one["patches_per_second"]
            report["parallel"].append(many)
    report["layer_batching"] = layer_batching(arch, batch, dev)
    # CPU peaks: freed memory returned at once, so that the resident peak is the live peak
    malloc = None if gpu else "strict"
    runs = [("backprop", "forward", "device"), ("lifted", "forward", "device")]
    runs += [("lifted", "keep", "device"), ("lifted", "keep", "mmap")] if n_keep else []
    for trainer, aux, storage in runs:
        report["memory"].append(_measure(trainer, arch, batch, max(steps // 5, 5), str(dev), threads=threads,
                                         malloc=malloc, aux=aux, storage=storage, n_keep=n_keep))
    write_report(out_dir, "scale", report, markdown(report))
    return report


def markdown(report: dict) -> str:
    a = report["arch"]
    from ..restoration import markdown_header

    lines = markdown_header(report["meta"]) + [
             f"DFB-PNN K = {a['depth']}, F = {a['features']}, {a['patch']}x{a['patch']} patches, "
             f"batch {report['batch']} per process, device {report['device']}, "
             f"{report['threads_per_process']} torch thread(s) per process, {report['steps']} timed steps.", "",
             "| trainer | processes | s / step | patches / s | conv GFLOP/s | peak memory (MB) |",
             "|---|---|---|---|---|---|"]
    mb = lambda r: "-" if r.get("peak_memory_mb") is None else f"{r['peak_memory_mb']:.0f}"  # noqa: E731
    for r in report["steps_records"] + report["parallel"]:
        lines.append(f"| {r['trainer']} | {r['processes']} | {r['seconds_per_step']:.4f} | "
                     f"{r['patches_per_second']:.1f} | {r['conv_gflops_per_second']:.2f} | {mb(r)} |")
    lines += ["", f"Lifted step / backprop step: **{report['step_ratio']:.2f}**."]
    if report.get("tf32_peak_tflops"):
        shares = ", ".join(f"{r['trainer']} {100 * r['fraction_of_peak']:.1f}%" for r in report["steps_records"])
        lines.append(f"Convolutions (TF32 on) at {shares} of the device's dense TF32 peak, "
                     f"{report['tf32_peak_tflops']:.0f} TFLOP/s.")
    for r in report["parallel"]:
        lines.append(f"{r['processes']} processes vs 1, {r['trainer']}: **{r['speedup']:.2f}x** the throughput.")
    lb = report.get("layer_batching")
    if lb:
        lines += ["", f"Layer batching, {lb['layers']} even layers' D D* products on one batch: "
                      f"{lb['loop_seconds'] * 1e3:.1f} ms layer by layer, {lb['grouped_seconds'] * 1e3:.1f} ms "
                      f"all layers at once (**{lb['speedup']:.2f}x**; "
                      + ("grouped convolutions" if report["device"].startswith("cuda") else "batched matrix products")
                      + ")."]
        sv = lb.get("solver")
        if sv:
            lines.append("Whole lifted step, auxiliaries even/odd: "
                         f"{sv['even_odd_loop_seconds']:.4f} s layer by layer, "
                         f"{sv['even_odd_batched_seconds']:.4f} s each colour group batched (grouped convolutions, "
                         f"**{sv['speedup']:.2f}x**); last layer to first (the trainers' default): "
                         f"{sv['backward_seconds']:.4f} s.")
    if report["memory"]:
        lines += ["", "| trainer | auxiliaries | storage | patches kept | formula (MB) | measured peak (MB) |",
                  "|---|---|---|---|---|---|"]
        for r in report["memory"]:
            lines.append(f"| {r['trainer']} | {r['aux'] if r['trainer'] == 'lifted' else '-'} | "
                         f"{r['storage'] or '-'} | {r.get('n_kept', 0)} | {r.get('formula_mb', 0):.0f} | {mb(r)} |")
        if not report["device"].startswith("cuda"):
            lines.append("\nCPU peaks: resident-set peak above the process's size once the data are loaded, "
                         "measured with LIFTINV_MALLOC=strict (freed blocks returned at once); timing runs keep "
                         "freed memory (the default) and report none.")
    return "\n".join(lines) + "\n"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--depth", type=positive_int, default=None, help="layers K (default 20 on CUDA, 10 on CPU)")
    p.add_argument("--features", type=positive_int, default=None, help="channels F (default 64 on CUDA, 32 on CPU)")
    p.add_argument("--patch", type=positive_int, default=40,
                   help="side of the square training patches in the timed batches (default 40)")
    p.add_argument("--batch", type=positive_int, default=None, help="patches per process (default 128 CUDA, 32 CPU)")
    p.add_argument("--steps", type=positive_int, default=50, help="timed steps per measurement")
    p.add_argument("--nproc", type=positive_int, default=2, help="processes for the CPU scaling measurement")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads per process")
    p.add_argument("--keep", type=nonneg_int, default=256, help="patches whose auxiliaries are kept (0: skip)")
    p.add_argument("--peak-tflops", type=positive_float, default=None,
                   help="the GPU's dense TF32 peak, for the fraction reached (default: data sheet of H100/H200/A100)")
    add_common_arguments(p, "scale")


def run(args: argparse.Namespace) -> int:
    run_scale_benchmark(device=args.device, depth=args.depth, features=args.features, patch=args.patch,
                        batch=args.batch, steps=args.steps, nproc=args.nproc, threads=args.threads, n_keep=args.keep,
                        peak_tflops=args.peak_tflops, out_dir=args.output)
    print_report(args.output, "scale")
    return 0
