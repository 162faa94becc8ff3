"""Speed of the default generation path: `load_pretrained(model)(n)` in-process, the whole `diffusion_nb_generate` command,
the sampling loop against the same number of bare forward calls, and torch.compile against eager.

    python benchmarks/bench_generate.py                      # all sections, flowers64-attention, 8 images (~5 min on 2 quiet cores)
    python benchmarks/bench_generate.py --only loop command
    python benchmarks/bench_generate.py --only compile --compile-res 32 64

A benchmark, not a test: run it on a quiet machine; every figure of one table comes from one run (medians of --rounds).
"""
import argparse, os, statistics, subprocess, sys, time
import torch
from diffusion_nb.pretrained import load_pretrained
from diffusion_nb.core import resolve_precision, precision_context

def med(f, rounds):
    "Median wall time of `f()` over `rounds` calls, after one untimed call."
    f(); ts = []
    for _ in range(rounds): t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)

def loadavg(): return ' '.join(f'{x:.2f}' for x in os.getloadavg())

def default_sampler(pipe):
    "The pipeline's default sampler, in words."
    s = pipe.sampler(); return f'{type(s).__name__}, {len(s)} steps'

def section_inprocess(a):
    print(f'\n## in-process: {a.model}, {a.n} images, the default sampler ({default_sampler(load_pretrained(a.model))}), {torch.get_num_threads()} threads (load {loadavg()})')
    print('| path | precision | layout | seconds |\n|---|---|---|---|')
    for prec, cl in (('fp32', False), ('fp32', True), ('bf16', False), ('bf16', True)):
        pipe = load_pretrained(a.model); pipe.model.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
        s = med(lambda: pipe(a.n, seed=0, precision=prec), a.rounds)
        print(f"| `pipe({a.n})` | {prec} | {'channels_last' if cl else 'contiguous'} | {s:.2f} |", flush=True)
    pipe = load_pretrained(a.model)
    print(f"| default `load_pretrained({a.model!r})({a.n})` | auto → {resolve_precision('auto')} | channels_last | {med(lambda: pipe(a.n, seed=0), a.rounds):.2f} |", flush=True)

def section_loop(a):
    pipe = load_pretrained(a.model); m = pipe.model
    prec = resolve_precision('auto'); x = torch.randn(a.n, 3, pipe.resolution, pipe.resolution).contiguous(memory_format=torch.channels_last)
    sampler = pipe.sampler(); steps = len(sampler); t = torch.zeros(a.n, dtype=torch.long)
    def bare():
        with torch.inference_mode(), precision_context('cpu', prec):
            for s in sampler.timesteps: m(x, t.fill_(s))
    loop, forwards = med(lambda: pipe(a.n, seed=0), a.rounds), med(bare, a.rounds)
    print(f'\n## the loop against bare forwards: {steps} steps, {a.n} images, {prec}, channels_last (load {loadavg()})')
    print(f'| sampling loop `pipe({a.n})` | {steps} bare forwards | overhead |\n|---|---|---|\n| {loop:.2f} s | {forwards:.2f} s | {100 * (loop / forwards - 1):+.1f} % |', flush=True)

def section_command(a):
    cmd = [os.path.join(os.path.dirname(sys.executable), 'diffusion_nb_generate'), '--model', a.model, '--n', str(a.n), '--quiet', '--out', '/tmp/bench_generate.png']
    def run(): subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    print(f"\n## the whole command (Python start-up, imports, loading, sampling, writing the PNG) (load {loadavg()})\n"
          f"| `{' '.join(['diffusion_nb_generate'] + cmd[1:])}` | {med(run, a.rounds):.2f} s |", flush=True)

def section_compile(a):
    from diffusion_nb.models import build_model
    print(f'\n## torch.compile (inductor) against eager: forward of a batch of {a.n} (sampling) (load {loadavg()})')
    print('| model | res | precision | eager s/forward | compiled s/forward | compile (first call) s | speed-up |\n|---|---|---|---|---|---|---|')
    for name in a.compile_models:
        for res in a.compile_res:
            for prec in ('fp32', 'bf16'):
                pipe = load_pretrained(f'flowers{res}-{name}') if name in ('attention', 'simple') else None
                m = pipe.model; x = torch.randn(a.n, 3, res, res).contiguous(memory_format=torch.channels_last); t = torch.full((a.n,), 100)
                def fwd(mm):
                    with torch.inference_mode(), precision_context('cpu', prec): mm(x, t)
                eager = med(lambda: fwd(m), a.rounds)
                torch._dynamo.reset(); cm = torch.compile(m)
                t0 = time.perf_counter(); fwd(cm); first = time.perf_counter() - t0
                comp = med(lambda: fwd(cm), a.rounds)
                print(f'| {name} | {res} | {prec} | {eager:.3f} | {comp:.3f} | {first:.1f} | {eager / comp:.2f}× |', flush=True)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', default='flowers64-attention'); p.add_argument('--n', type=int, default=8)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--only', nargs='+', default=['inprocess', 'loop', 'command', 'compile'], choices=['inprocess', 'loop', 'command', 'compile'])
    p.add_argument('--compile-models', nargs='+', default=['attention', 'simple']); p.add_argument('--compile-res', type=int, nargs='+', default=[64])
    a = p.parse_args()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 units: {resolve_precision("auto") == "bf16"}')
    for s in a.only: globals()[f'section_{s}'](a)

if __name__ == '__main__': main()
