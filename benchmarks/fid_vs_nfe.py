"""Quality against cost for one model: FID and KID (Inception and flowers32 features) of N images per sampler setting,
against the test split, each setting generated from the same seeds. Resumable: settings already in --json are skipped.

    OMP_NUM_THREADS=1 python benchmarks/fid_vs_nfe.py --model flowers64-attention --n 500 --json nfe64.jsonl

Not a test (it takes an hour or more on a CPU); its rows feed the sampler table of the evaluation notebook.
"""
import argparse, json, time
from pathlib import Path
import torch
from diffusion_nb.pretrained import load_pretrained
from diffusion_nb.metrics import generate_images, image_metrics, real_features
from diffusion_nb.extractors import get_extractor

# (name, sampler settings, precision); --only runs the named ones in the order given
SETTINGS = [('dpm++ 5', dict(sampler='dpm++', steps=5), 'bf16'), ('dpm++ 10', dict(sampler='dpm++', steps=10), 'bf16'),
            ('dpm++ 15', dict(sampler='dpm++', steps=15), 'bf16'), ('dpm++ 20', dict(sampler='dpm++', steps=20), 'bf16'),
            ('dpm++ 25', dict(sampler='dpm++', steps=25), 'bf16'),
            ('dpm++sde 5', dict(sampler='dpm++sde', steps=5), 'bf16'), ('dpm++sde 10', dict(sampler='dpm++sde', steps=10), 'bf16'), ('dpm++sde 15', dict(sampler='dpm++sde', steps=15), 'bf16'),
            ('dpm++sde 20', dict(sampler='dpm++sde', steps=20), 'bf16'), ('dpm++sde 50', dict(sampler='dpm++sde', steps=50), 'bf16'),
            ('ddim 10', dict(sampler='ddim', steps=10), 'bf16'), ('ddim 20', dict(sampler='ddim', steps=20), 'bf16'),
            ('ddim 50', dict(sampler='ddim', steps=50), 'bf16'), ('ddim 50 fp32', dict(sampler='ddim', steps=50), 'fp32'),
            ('dpm++ 10 fp32', dict(sampler='dpm++', steps=10), 'fp32'), ('ddpm 300', dict(sampler='ddpm'), 'bf16')]

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', default='flowers64-attention'); p.add_argument('--n', type=int, default=500)
    p.add_argument('--bs', type=int, default=50); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', required=True); p.add_argument('--only', nargs='*', help='names of settings to run (default: all)')
    a = p.parse_args()
    known = {name: (settings, precision) for name, settings, precision in SETTINGS}
    if bad := sorted(set(a.only or ()) - set(known)): p.error(f"unknown setting(s) {bad}: choose from {', '.join(known)}")
    out = Path(a.json); done = {json.loads(l)['setting'] for l in out.read_text().splitlines()} if out.exists() else set()
    pipe = load_pretrained(a.model); pipe.model.to(memory_format=torch.channels_last)
    ex = {k: get_extractor(k) for k in ('inception', 'flowers32')}
    real = {k: real_features('test', pipe.resolution, e) for k, e in ex.items()}
    for name in a.only or known:
        settings, precision = known[name]
        if name in done: continue
        t0 = time.perf_counter()
        ims, spi = generate_images(pipe, a.n, a.bs, a.seed, precision=precision, **settings)
        row = dict(setting=name, model=a.model, **settings, precision=precision, nfe=len(pipe.sampler(**settings)), n=a.n, seed=a.seed,
                   sec_per_image=round(spi, 4), threads=torch.get_num_threads())
        for k, e in ex.items():
            m = image_metrics(ims, real[k], e, seed=a.seed)
            row.update({f'fid_{k}': m['fid'], f'kid_{k}': m['kid'], f'kid_std_{k}': m['kid_std']})
        row['wall_s'] = round(time.perf_counter() - t0, 1)
        with open(out, 'a') as f: f.write(json.dumps(row) + '\n')
        print(json.dumps(row), flush=True)

if __name__ == '__main__': main()
