"""Speed of the diffusion_nb U-Nets against the machine's own sgemm and against diffusers' UNet2DModel.

Run on demand (not a test), from the repo root:

    python benchmarks/bench_unets.py --quick          # < 5 min on 2 busy cores: 2 timed rounds, 10-step sampling
    python benchmarks/bench_unets.py                  # 5 rounds, DDIM-50 sampling (~10 min on 2 quiet cores)
    python benchmarks/bench_unets.py --only train --models attention --res 32
    python benchmarks/bench_unets.py --device cuda --autocast   # bf16 autocast on CUDA
    python benchmarks/bench_unets.py --only precision --no-diffusers   # float32 vs bfloat16 autocast, with both yardsticks

Sections (pick with --only): train (training step and forward, ours and diffusers'), sample (DDIM loop vs bare
forwards vs diffusers' DDIM scheduler loop with the same model), data (loader vs model images/s), precision (our
training step in float32 and under bfloat16 autocast, side by side, beside a float32 and a bfloat16 GEMM and conv).

Robust on a shared CPU: every timed call is bracketed by float32 sgemm measurements (best of 3 n x n matmuls) and
its FLOP rate is divided by the mean of the two neighbouring sgemm figures, so a load change mid-run moves both; the
variants of one row (ours, diffusers') are interleaved round by round in rotating order; medians are reported, and
the load average at the start and end of every section.
"""
import argparse, os, platform, statistics, time
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from diffusion_nb.models import MODELS, build_model, count_params
from diffusion_nb.core import cpu_native_bf16, resolve_precision

# ---------------------------------------------------------------------------------------------- machine, sgemm

def cpu_name() -> str:
    "The CPU's model name, from /proc/cpuinfo where there is one."
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or 'unknown CPU'

def loadavg() -> str:
    "The 1, 5 and 15 minute load averages."
    return ' '.join(f'{v:.2f}' for v in os.getloadavg()) if hasattr(os, 'getloadavg') else 'n/a'

def machine(device) -> str:
    "One line describing the machine and the PyTorch build."
    dev = torch.cuda.get_device_name() if str(device).startswith('cuda') else f"{cpu_name()}, {os.cpu_count()} logical cores"
    return (f"{dev} | torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"mkldnn {torch.backends.mkldnn.is_available()} | load average {loadavg()}")

def sync(device):
    if str(device).startswith('cuda'): torch.cuda.synchronize()

_GEMM = {}
def sgemm_gflops(n:int=2048, reps:int=3, device='cpu', dtype=torch.float32) -> float:
    "Best-of-`reps` n x n matmul rate in GFLOP/s (2 n^3 FLOPs each), float32 unless `dtype`: the practical ceiling right now."
    if (n, str(device), dtype) not in _GEMM:
        _GEMM[n, str(device), dtype] = [torch.randn(n, n, device=device).to(dtype) for _ in range(3)]
    a, b, c = _GEMM[n, str(device), dtype]
    best = float('inf')
    for _ in range(reps):
        sync(device); t0 = time.perf_counter(); torch.mm(a, b, out=c); sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9

# ---------------------------------------------------------------------------------------------- interleaved timing

def interleaved(tasks:dict, rounds:int, warmup:int=1, device='cpu') -> dict:
    """Time each task `rounds` times, tasks interleaved in rotating order, each call bracketed by sgemm.
    tasks: name -> (fn, flops or None). Returns name -> dict(t=median s, gemm=median bracketing sgemm GFLOP/s,
    gflops=median achieved GFLOP/s, frac=median of per-call achieved / bracketing sgemm)."""
    names = list(tasks)
    for _ in range(warmup):
        for n in names: tasks[n][0]()
    sync(device)
    res = {n: dict(ts=[], gemms=[], fracs=[]) for n in names}
    g_prev = sgemm_gflops(device=device)
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            fn, flops = tasks[n]
            t0 = time.perf_counter(); fn(); sync(device); dt = time.perf_counter() - t0
            g_next = sgemm_gflops(device=device); g = (g_prev + g_next) / 2; g_prev = g_next
            res[n]['ts'].append(dt); res[n]['gemms'].append(g)
            if flops: res[n]['fracs'].append(flops / dt / 1e9 / g)
    out = {}
    for n, r in res.items():
        t, fl = statistics.median(r['ts']), tasks[n][1]
        out[n] = dict(t=t, tmin=min(r['ts']), gemm=statistics.median(r['gemms']), gflops=fl / t / 1e9 if fl else float('nan'),
                      frac=statistics.median(r['fracs']) if r['fracs'] else float('nan'), ts=r['ts'])
    return out

def count_flops(fn) -> int:
    "FLOPs (matmuls, convs, attention) of one call of `fn`, by `torch.utils.flop_counter`."
    with FlopCounterMode(display=False) as fc: fn()
    return fc.get_total_flops()

# ---------------------------------------------------------------------------------------------- models

def diffusers_twin(name:str, model, res:int):
    "diffusers' UNet2DModel configured like our `model`: same widths, levels, blocks per level, attention placement."
    from diffusers import UNet2DModel
    cfg = model.config
    if name == 'simple':   # conv-only, one block per level, GroupNorm(8) (ours: BatchNorm), no attention anywhere
        ch = tuple(cfg['widths'])
        return UNet2DModel(sample_size=res, in_channels=cfg['in_channels'], out_channels=cfg['out_channels'],
                           block_out_channels=ch, layers_per_block=1, down_block_types=('DownBlock2D',) * len(ch),
                           up_block_types=('UpBlock2D',) * len(ch), add_attention=False, norm_num_groups=8)
    if name == 'attention':  # attention at the same levels (diffusers': full softmax; ours: linear), full attention mid
        dims = tuple(cfg['dim'] * m for m in cfg['dim_mults'])
        att = set(cfg['attn_levels'])
        return UNet2DModel(sample_size=res, in_channels=cfg['in_channels'], out_channels=cfg['out_channels'],
                           block_out_channels=dims, layers_per_block=cfg['res_blocks'],
                           down_block_types=tuple('AttnDownBlock2D' if i in att else 'DownBlock2D' for i in range(len(dims))),
                           up_block_types=tuple('AttnUpBlock2D' if i in att else 'UpBlock2D' for i in reversed(range(len(dims)))),
                           attention_head_dim=cfg['attn_dim_head'], norm_num_groups=cfg['norm_groups'])
    raise ValueError(f"no diffusers twin for {name!r}")

class Plain(torch.nn.Module):
    "A diffusers UNet2DModel called as model(x, t) -> tensor."
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, x, t): return self.m(x, t, return_dict=False)[0]

def prepare(model, device, channels_last, compile_=False):
    model = model.to(device)
    if channels_last: model = model.to(memory_format=torch.channels_last)
    return torch.compile(model) if compile_ else model

def batch(res, bs, device, channels_last, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(bs, 3, res, res, generator=g).to(device)
    if channels_last: x = x.contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, 300, (bs,), generator=g).to(device)

def amp(device, autocast):
    return torch.autocast(str(device).split(':')[0], dtype=torch.bfloat16) if autocast else nullcontext()

def train_fns(model, x, t, device, autocast):
    "(step, fwd_bwd, forward): a full training step with AdamW, the FLOP-counted part, an inference forward."
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=str(device).split(":")[0] in ("cpu", "cuda"))  # as Trainer
    def fwd_bwd(x=x, t=t):
        with amp(device, autocast): loss = F.mse_loss(model(x, t).float(), x.float())
        loss.backward()
    def step():
        fwd_bwd(); opt.step(); opt.zero_grad(set_to_none=True)
    def forward(x=x, t=t):
        with torch.inference_mode(), amp(device, autocast): model(x, t)
    return step, fwd_bwd, forward

def flops_per_image(fn, x, t, k=2) -> float:
    "FLOPs per image of `fn(x, t)`, counted on the first `k` images only (convs and attention are linear in the batch)."
    n = count_flops(lambda: fn(x[:k], t[:k])) / k
    return n

# ---------------------------------------------------------------------------------------------- sections

def section_train(a):
    print(f"\n## Training step (forward + backward + AdamW) and inference forward, batch {a.batch}"
          f"{', channels_last' if a.channels_last else ''}{', torch.compile' if a.compile else ''}{', bf16 autocast' if a.autocast else ''}"
          f" | load {loadavg()}")
    hdr = (f"{'model':<20}{'res':>4}{'params':>11}{'GFLOP/img':>10}{'s/step':>8}{'img/s':>7}{'GFLOP/s':>8}{'sgemm':>7}"
           f"{'of sgemm':>9}{'fwd img/s':>10}{'fwd of sgemm':>13}{'step vs diffusers':>18}{'fwd vs diffusers':>17}")
    print(hdr); print('-' * len(hdr))
    rows = {}
    for name in a.models:
        for res in a.res:
            torch.manual_seed(0)
            ours = prepare(build_model(name).train(), a.device, a.channels_last, a.compile)
            x, t = batch(res, a.batch, a.device, a.channels_last)
            variants = {name: ours}
            if not a.no_diffusers:
                torch.manual_seed(0)
                variants[f'diffusers {name}'] = prepare(Plain(diffusers_twin(name, build_model(name), res)).train(), a.device, a.channels_last, a.compile)
            tasks, meta = {}, {}
            for vn, m in variants.items():
                step, fwd_bwd, forward = train_fns(m, x, t, a.device, a.autocast)
                step()   # AdamW state allocated before counting and timing
                fl_train, fl_fwd = flops_per_image(fwd_bwd, x, t) * a.batch, flops_per_image(forward, x, t) * a.batch
                for p in m.parameters(): p.grad = None
                tasks[vn + ' step'], tasks[vn + ' fwd'] = (step, fl_train), (forward, fl_fwd)
                meta[vn] = dict(params=count_params(m), fl_train=fl_train)
            r = interleaved(tasks, a.rounds, a.warmup, a.device)
            for vn in variants:
                s, f = r[vn + ' step'], r[vn + ' fwd']
                rows[vn, res] = dict(s=s, f=f, **meta[vn])
            for vn in variants:
                s, f, m = r[vn + ' step'], r[vn + ' fwd'], meta[vn]
                vs = ''
                if vn == name and len(variants) > 1:
                    d = f'diffusers {name}'
                    ds, df = r[d + ' step'], r[d + ' fwd']   # time per FLOP, ours / theirs
                    vs = (f"{(s['t'] / tasks[name + ' step'][1]) / (ds['t'] / tasks[d + ' step'][1]):>17.2f}x"
                          f"{(f['t'] / tasks[name + ' fwd'][1]) / (df['t'] / tasks[d + ' fwd'][1]):>16.2f}x")
                print(f"{vn:<20}{res:>4}{m['params']:>11,}{m['fl_train'] / a.batch / 1e9:>10.2f}{s['t']:>8.3f}{a.batch / s['t']:>7.1f}"
                      f"{s['gflops']:>8.1f}{s['gemm']:>7.1f}{s['frac']:>9.0%}{a.batch / f['t']:>10.1f}{f['frac']:>13.0%}{vs}", flush=True)
    print(f"s/step: median of {a.rounds} interleaved rounds; GFLOP/s = FLOPs of forward+backward / s/step (AdamW's FLOPs not "
          f"counted);\n'of sgemm' = median over calls of achieved / mean of the sgemm measured just before and after that call; "
          f"'vs diffusers' = our time per FLOP / diffusers' time per FLOP (< 1: we are faster). load {loadavg()}")
    return rows

def conv_gflops(precision:str, bs:int=32, ch:int=64, res:int=32, reps:int=3, device='cpu') -> float:
    "Best-of-`reps` rate of one conv3x3 (ch -> ch, bs x ch x res x res) forward + backward, float32 or under bf16 autocast."
    conv = torch.nn.Conv2d(ch, ch, 3, padding=1).to(device)
    x = torch.randn(bs, ch, res, res, device=device, requires_grad=True)
    flops, best = 3 * 2 * bs * ch * ch * 9 * res * res, float('inf')   # forward, grad wrt input, grad wrt weight
    for _ in range(reps + 1):
        sync(device); t0 = time.perf_counter()
        with amp(device, precision == 'bf16'): y = conv(x)
        y.float().sum().backward(); sync(device)
        best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9

def section_precision(a):
    "Our training step in float32 and under bfloat16 autocast, interleaved, beside both GEMM and conv yardsticks."
    print(f"\n## Precision: float32 vs bfloat16 autocast, training step (forward + backward + AdamW), batch {a.batch} | load {loadavg()}")
    if a.device == 'cpu': print(f"CPU bfloat16 units (AVX512-BF16/AMX): {cpu_native_bf16()}, capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"Trainer's precision='auto' picks {resolve_precision('auto', a.device)} here")
    yard = {p: (sgemm_gflops(device=a.device, dtype=dict(fp32=torch.float32, bf16=torch.bfloat16)[p]), conv_gflops(p, device=a.device))
            for p in ('fp32', 'bf16')}
    print(f"yardsticks: GEMM 2048^3 fp32 {yard['fp32'][0]:.1f} / bf16 {yard['bf16'][0]:.1f} GFLOP/s; "
          f"conv3x3 64ch 32px fwd+bwd fp32 {yard['fp32'][1]:.1f} / bf16 autocast {yard['bf16'][1]:.1f} GFLOP/s")
    hdr = f"{'model':<12}{'res':>4}{'fp32 s/step':>12}{'bf16 s/step':>12}{'bf16 speed-up':>14}{'fp32 img/s':>11}{'bf16 img/s':>11}"
    print(hdr); print('-' * len(hdr))
    for name in a.models:
        for res in a.res:
            torch.manual_seed(0)
            m = prepare(build_model(name).train(), a.device, a.channels_last)
            x, t = batch(res, a.batch, a.device, a.channels_last)
            tasks = {}
            for p in ('fp32', 'bf16'):
                step, _, _ = train_fns(m, x, t, a.device, p == 'bf16'); step()
                tasks[p] = (step, None)
            r = interleaved(tasks, a.rounds, a.warmup, a.device)
            f, b = r['fp32']['t'], r['bf16']['t']
            print(f"{name:<12}{res:>4}{f:>12.3f}{b:>12.3f}{f / b:>13.2f}x{a.batch / f:>11.1f}{a.batch / b:>11.1f}", flush=True)
    print(f"s/step: median of {a.rounds} rounds, fp32 and bf16 interleaved; speed-up > 1: bf16 is faster. load {loadavg()}")

def ddim_diffusers_loop(model, x, steps, T=300):
    "The loop of diffusers' DDIMPipeline (scheduler.step on each model output) run with `model`."
    from diffusers import DDIMScheduler
    sch = DDIMScheduler(num_train_timesteps=T, beta_schedule='linear', beta_start=1e-4, beta_end=0.02, clip_sample=False)
    sch.set_timesteps(steps)
    def run():
        with torch.inference_mode():
            im = x.clone()
            for tt in sch.timesteps:
                out = model(im, tt.expand(len(im)).to(im.device))
                im = sch.step(out, tt, im, eta=0.0).prev_sample
        return im
    return run

def section_sample(a, train_rows):
    from diffusion_nb.schedules import NoiseSchedule
    from diffusion_nb.sampling import DDIMSampler, sample
    steps, n = a.sample_steps, a.sample_n
    print(f"\n## Sampling: {n} images, DDIM with {steps} steps (eta 0){', channels_last' if a.channels_last else ''} | load {loadavg()}")
    hdr = (f"{'model':<11}{'res':>4}{'DDIM s':>8}{'img-steps/s':>12}{'bare fwd s':>11}{'overhead':>9}"
           f"{'diffusers loop s':>17}{'ours/diffusers':>15}{'FLOP floor s':>13}{'DDIM/floor':>11}{'8 img x 50 steps s':>19}")
    print(hdr); print('-' * len(hdr))
    sched = NoiseSchedule('linear', T=300)
    for name in a.models:
        for res in a.res:
            torch.manual_seed(0)
            model = prepare(build_model(name), a.device, a.channels_last, a.compile).eval()
            sampler = DDIMSampler(sched, steps=steps)
            x, _ = batch(res, n, a.device, a.channels_last, seed=1)
            ts = [torch.full((n,), int(t), device=a.device) for t in sampler.timesteps]
            def ddim(): sample(model, sampler, n=n, res=res, x=x, device=a.device)
            def bare():
                with torch.inference_mode():
                    for tt in ts: model(x, tt)
            tasks = {'ddim': (ddim, None), 'bare': (bare, None)}
            if not a.no_diffusers: tasks['diffusers'] = (ddim_diffusers_loop(model, x, steps), None)
            with torch.inference_mode(): fl = count_flops(lambda: model(x, ts[0])) * steps   # also warms the model up
            for k in tasks: tasks[k] = (tasks[k][0], fl)
            r = interleaved(tasks, a.sample_rounds, 0 if a.quick else 1, a.device)
            d, b = r['ddim'], r['bare']
            floor = fl / 1e9 / d['gemm']
            dif = r.get('diffusers')
            dcols = f"{dif['t']:>17.2f}{d['t'] / dif['t']:>14.2f}x" if dif else f"{'-':>17}{'-':>15}"
            print(f"{name:<11}{res:>4}{d['t']:>8.2f}{n * steps / d['t']:>12.1f}{b['t']:>11.2f}{d['t'] / b['t'] - 1:>+9.1%}"
                  f"{dcols}{floor:>13.2f}{d['t'] / floor:>10.2f}x{d['t'] * 50 / steps * 8 / n:>19.2f}", flush=True)
    print(f"median of {a.sample_rounds} interleaved rounds; overhead = DDIM loop / the same {steps} bare forwards - 1; "
          f"FLOP floor = the loop's FLOPs / the bracketing sgemm rate;\nlast column: seconds for 8 images x 50 steps "
          f"{'(measured)' if steps == 50 and n == 8 else '(scaled from the measured run)'}. load {loadavg()}")

def section_data(a, train_rows):
    from torch.utils.data import DataLoader
    from diffusion_nb.data import load_flowers, FlowersDataset
    print(f"\n## Data pipeline: images/s delivered (batch {a.batch}) vs images/s the model consumes | load {loadavg()}")
    hdr = f"{'res':>4}{'loader':>40}{'img/s':>10}{'model img/s':>21}{'loader share of step':>22}"
    print(hdr); print('-' * len(hdr))
    for res in a.res:
        ims = load_flowers('train', res=res, limit=a.data_limit)
        loaders = {}
        dl = DataLoader(FlowersDataset(ims, flip=True), batch_size=a.batch, shuffle=True, drop_last=True)
        loaders['DataLoader(FlowersDataset), 0 workers'] = lambda: sum(len(b) for b in dl)
        try:
            from diffusion_nb.training import StepBatches
            sb = StepBatches(ims, bs=a.batch)
            loaders['training.StepBatches'] = lambda: sum(len(sb(s)) for s in range(len(sb)))
        except ImportError: pass
        model_ips = [a.batch / r['s']['t'] for (vn, rr), r in train_rows.items() if rr == res and not vn.startswith('diffusers')]
        for ln, fn in loaders.items():
            fn()
            t0 = time.perf_counter(); k = fn(); dt = time.perf_counter() - t0
            ips = k / dt
            m = max(model_ips) if model_ips else float('nan')
            print(f"{res:>4}{ln:>40}{ips:>10.0f}{m:>21.1f}{m / ips:>22.2%}", flush=True)
    print(f"'model img/s' is our faster model's training rate at that size (the most demanding consumer); "
          f"share = loader time per image / model time per image. {a.data_limit} cached images. load {loadavg()}")

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='2 rounds, 10-step sampling: under 5 minutes on 2 busy cores')
    p.add_argument('--only', nargs='+', default=['train', 'sample', 'data', 'precision'], choices=['train', 'sample', 'data', 'precision'])
    p.add_argument('--models', nargs='+', default=['simple', 'attention'], choices=[m for m in MODELS if m != 'original_simple'])
    p.add_argument('--res', type=int, nargs='+', default=[32, 64], help='image sides')
    p.add_argument('--batch', type=int, default=32, help='training batch size')
    p.add_argument('--rounds', type=int, default=None, help='timed rounds per training row (default 5; 2 with --quick)')
    p.add_argument('--warmup', type=int, default=None, help='untimed rounds after the first step (default 1; 0 with --quick)')
    p.add_argument('--sample-steps', type=int, default=None, help='DDIM steps (default 50; 10 with --quick)')
    p.add_argument('--sample-n', type=int, default=8, help='images per sampling run')
    p.add_argument('--sample-rounds', type=int, default=None, help='timed sampling rounds (default 3; 1 with --quick)')
    p.add_argument('--data-limit', type=int, default=512, help='cached training images for the data section')
    p.add_argument('--no-diffusers', action='store_true', help="skip diffusers' models and loop")
    p.add_argument('--contiguous', dest='channels_last', action='store_false', help='NCHW instead of channels_last')
    p.add_argument('--compile', action='store_true', help='torch.compile the models')
    p.add_argument('--autocast', action='store_true', help='bf16 autocast (meant for CUDA)')
    p.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: leave as is)')
    p.add_argument('--device', default='cpu', help="'cpu' or e.g. 'cuda'")
    a = p.parse_args(argv)
    a.rounds = a.rounds or (2 if a.quick else 5)
    a.warmup = (0 if a.quick else 1) if a.warmup is None else a.warmup
    a.sample_steps = a.sample_steps or (10 if a.quick else 50)
    a.sample_rounds = a.sample_rounds or (1 if a.quick else 3)
    if a.threads: torch.set_num_threads(a.threads)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    if not a.no_diffusers:
        try: import diffusers  # noqa: F401
        except ImportError: print("diffusers not installed (pip install -e '.[bench]'): skipping it"); a.no_diffusers = True
    t0 = time.perf_counter()
    print(f"# bench_unets {'--quick ' if a.quick else ''}| {machine(a.device)}")
    print(f"sgemm 2048x2048 float32 now: {sgemm_gflops(device=a.device):.1f} GFLOP/s")
    rows = section_train(a) if 'train' in a.only else {}
    if 'sample' in a.only: section_sample(a, rows)
    if 'data' in a.only and a.device == 'cpu': section_data(a, rows)
    if 'precision' in a.only: section_precision(a)
    print(f"\ndone in {time.perf_counter() - t0:.0f} s; sgemm now {sgemm_gflops(device=a.device):.1f} GFLOP/s; load {loadavg()}")

if __name__ == '__main__': main()
