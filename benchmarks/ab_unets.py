"""Paired, interleaved before/after timing of one speed-up on the diffusion_nb U-Nets (a benchmark, not a test).

    python benchmarks/ab_unets.py channels_last          # NCHW vs channels_last, both models, 32 and 64 px
    python benchmarks/ab_unets.py compile --res 32       # eager vs torch.compile
    python benchmarks/ab_unets.py inference_mode         # forward under no_grad vs inference_mode
    python benchmarks/ab_unets.py --list

Each round times variant A then B (order alternating) on the same model weights and batch, with sgemm measured
between calls; reported: median seconds of each, the median of the per-round ratios B/A (< 1: B is faster) and each
variant's median fraction of the bracketing sgemm rate. Only ratios within one run mean anything on a shared machine.
"""
import argparse, statistics, sys, time
from pathlib import Path

import torch
sys.path.insert(0, str(Path(__file__).parent))
from bench_unets import (machine, loadavg, interleaved, count_flops, build_model, batch, train_fns)

def _cl(m, x): return m.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

# name -> (what A is, what B is, make(model, x, variant) -> (model, x), what to time: 'train' or 'fwd' by default)
VARIANTS = {
    'channels_last': ('NCHW', 'channels_last', lambda m, x, v: _cl(m, x) if v else (m, x)),
    'compile': ('eager', 'torch.compile', lambda m, x, v: (torch.compile(m) if v else m, x)),
}

def fwd_mode(m, x, t, mode):
    ctx = torch.inference_mode if mode else torch.no_grad
    def f():
        with ctx(): m(x, t)
    return f

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('variant', nargs='?', choices=list(VARIANTS) + ['inference_mode'])
    p.add_argument('--list', action='store_true')
    p.add_argument('--models', nargs='+', default=['simple', 'attention'])
    p.add_argument('--res', type=int, nargs='+', default=[32, 64])
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--rounds', type=int, default=4)
    p.add_argument('--what', nargs='+', default=['train', 'fwd'], choices=['train', 'fwd'])
    p.add_argument('--channels-last', action='store_true', help='both variants in channels_last (for the others)')
    a = p.parse_args(argv)
    if a.list or not a.variant:
        for k, (va, vb, _) in VARIANTS.items(): print(f"{k}: {va} -> {vb}")
        print("inference_mode: no_grad -> inference_mode (forward only)"); return
    print(f"# ab_unets {a.variant} | {machine('cpu')}")
    print(f"{'model':<10}{'res':>4}{'what':>6}{'A s':>8}{'B s':>8}{'B/A (median of rounds)':>24}{'A of sgemm':>11}{'B of sgemm':>11}")
    for name in a.models:
        for res in a.res:
            tasks = {}
            for v in (0, 1):
                torch.manual_seed(0)
                m, x = build_model(name).train(), None
                x, t = batch(res, a.batch, 'cpu', a.channels_last)
                if a.channels_last: m = m.to(memory_format=torch.channels_last)
                if a.variant == 'inference_mode':
                    f = fwd_mode(m, x, t, v); tasks[f'fwd{v}'] = (f, count_flops(lambda: m(x, t)))
                    continue
                m, x = VARIANTS[a.variant][2](m, x, v)
                step, fwd_bwd, forward = train_fns(m, x, t, 'cpu', False)
                step()
                if 'train' in a.what: tasks[f'train{v}'] = (step, count_flops(fwd_bwd))
                if 'fwd' in a.what: tasks[f'fwd{v}'] = (forward, count_flops(forward))
            r = interleaved(tasks, a.rounds, 1)
            for w in ('train', 'fwd'):
                if f'{w}0' not in r: continue
                A, B = r[f'{w}0'], r[f'{w}1']
                ratio = statistics.median(b / a_ for a_, b in zip(A['ts'], B['ts']))
                print(f"{name:<10}{res:>4}{w:>6}{A['t']:>8.3f}{B['t']:>8.3f}{ratio:>24.3f}{A['frac']:>11.0%}{B['frac']:>11.0%}", flush=True)
    print(f"batch {a.batch}, {a.rounds} rounds; load {loadavg()}")

if __name__ == '__main__': main()
