"""Time forward+backward of the diffusion_nb U-Nets and compare their achieved FLOP rate with the machine's sgemm.

Run on demand (not a test), from the repo root:

    python benchmarks/bench_unets.py                       # both default models, 32 and 64 px, batch 32
    python benchmarks/bench_unets.py --res 32 --batch 64 --iters 10 --channels-last
    python benchmarks/bench_unets.py --models simple --dtype bfloat16

For each model and resolution it prints the parameters, the FLOPs of one training step's forward+backward per image
(counted by `torch.utils.flop_counter.FlopCounterMode`), the median time per step with its images per second and
achieved GFLOP/s, the same for the fastest step, and the fastest step's rate as a fraction of a float32 sgemm
measured in the same run (again at the end, to show drift). The load average is printed too: on a shared machine
the numbers are only comparable within one run.
"""
import argparse, os, platform, statistics, time

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffusion_nb.attention_unet import MODELS, build_model, count_params


def cpu_name() -> str:
    "The CPU's model name, from /proc/cpuinfo where there is one."
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or 'unknown CPU'


def sgemm_gflops(n: int = 2048, reps: int = 10, device: str = 'cpu') -> float:
    "Best-of-`reps` float32 matmul rate of two n x n matrices, in GFLOP/s (2 n^3 FLOPs each)."
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float('inf')
    for _ in range(reps + 2):
        t0 = time.perf_counter(); torch.mm(a, b)
        if device != 'cpu': torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def make_batch(res: int, batch: int, dtype, channels_last: bool, device: str):
    "Random images in [-1, 1]-ish and integer timesteps."
    x = torch.randn(batch, 3, res, res, device=device, dtype=dtype)
    if channels_last: x = x.to(memory_format=torch.channels_last)
    return x, torch.randint(0, 300, (batch,), device=device)


def step(model, x, t):
    "One training step's forward and backward (no optimizer update)."
    loss = model(x, t).float().square().mean()
    loss.backward()
    for p in model.parameters(): p.grad = None


def count_flops(model, x, t) -> int:
    "FLOPs of one forward+backward on this batch."
    with FlopCounterMode(display=False) as fc: step(model, x, t)
    return fc.get_total_flops()


def bench(name, res, batch, iters, warmup, dtype, channels_last, device):
    "Time `iters` forward+backward steps; return a dict of results."
    torch.manual_seed(0)
    model = build_model(name).to(device=device, dtype=dtype).train()
    if channels_last: model = model.to(memory_format=torch.channels_last)
    x, t = make_batch(res, batch, dtype, channels_last, device)
    flops = count_flops(model, x, t)
    for _ in range(warmup): step(model, x, t)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter(); step(model, x, t)
        if device != 'cpu': torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    med, best = statistics.median(times), min(times)
    return dict(model=name, res=res, batch=batch, params=count_params(model), gflop_img=flops / batch / 1e9,
                s_step=med, img_s=batch / med, best_img_s=batch / best, gflops=flops / med / 1e9, best_gflops=flops / best / 1e9)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--res', type=int, nargs='+', default=[32, 64], help='image sides to time')
    p.add_argument('--batch', type=int, default=32, help='batch size')
    p.add_argument('--iters', type=int, default=5, help='timed steps per model and resolution (median reported)')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    p.add_argument('--channels-last', action='store_true', help='model and input in channels_last memory format')
    p.add_argument('--models', nargs='+', default=['simple', 'attention'], choices=list(MODELS), help='registry names, default configs')
    p.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'], help='model and input dtype')
    p.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: leave as is)')
    p.add_argument('--device', default='cpu', help="'cpu' or e.g. 'cuda'")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)

    load = os.getloadavg() if hasattr(os, 'getloadavg') else (float('nan'),) * 3
    print(f"torch {torch.__version__} | {cpu_name() if a.device == 'cpu' else torch.cuda.get_device_name()} | "
          f"{torch.get_num_threads()} threads | load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"batch {a.batch}, {a.dtype}, {'channels_last' if a.channels_last else 'contiguous'}, "
          f"median of {a.iters} forward+backward steps after {a.warmup} warm-up")
    gemm = sgemm_gflops(device=a.device)
    print(f"sgemm 2048x2048 float32 (best of 10): {gemm:.1f} GFLOP/s\n")
    hdr = (f"{'model':<11}{'res':>4}{'params':>12}{'GFLOP/img':>10}{'s/step':>8}{'img/s':>8}{'GFLOP/s':>9}"
           f"{'best img/s':>11}{'best GFLOP/s':>13}{'of sgemm':>9}")
    print(hdr); print('-' * len(hdr))
    for name in a.models:
        for res in a.res:
            r = bench(name, res, a.batch, a.iters, a.warmup, dtype, a.channels_last, a.device)
            print(f"{r['model']:<11}{r['res']:>4}{r['params']:>12,}{r['gflop_img']:>10.2f}{r['s_step']:>8.3f}{r['img_s']:>8.1f}"
                  f"{r['gflops']:>9.1f}{r['best_img_s']:>11.1f}{r['best_gflops']:>13.1f}{r['best_gflops'] / gemm:>9.0%}", flush=True)
    gemm_end = sgemm_gflops(device=a.device)
    load = os.getloadavg() if hasattr(os, 'getloadavg') else (float('nan'),) * 3
    print(f"\nsgemm again at the end: {gemm_end:.1f} GFLOP/s; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("s/step, img/s, GFLOP/s: median step; best: fastest step. 'of sgemm' = best GFLOP/s / the first sgemm.\n"
          "Other processes share this CPU: compare numbers within one run, and prefer the 'best' columns.")


if __name__ == '__main__': main()
