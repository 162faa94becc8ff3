"""Check what int8 storage costs a model: its samples from the stored weights and from an int8 copy, same seeds, scored.

    python tools/check_int8.py flowers32-attention --n 500 --steps 25
    python tools/check_int8.py runs/cmp64/attention-ft-bf16 --n 200 --features flowers32 inception --floor

It saves the model (a shipped name, a pretrained folder, a checkpoint or a run folder: its EMA weights) with
`save_pretrained(..., dtype='int8')` into a temporary folder, loads it back, samples `--n` images from each (DDIM, `--steps`,
seed 0, the same noise), and prints the file sizes, the mean and largest pixel difference between the two (out of 255),
the relative error of one network call (`eps_error`; bfloat16 autocast's beside it), and FID/KID of each against the test split in each feature space of `--features`; `--floor` adds a row for `--n` real train
images scored the same way (what a perfect generator would get at this N).
"""
import argparse, json, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from compare_runs import score, line
import torch
from diffusion_nb.pretrained import load_pretrained, resolve_pretrained, WEIGHTS_NAME, INT8_MIN_NUMEL
from diffusion_nb.metrics import generate_images
from diffusion_nb.extractors import get_extractor
from diffusion_nb.data import load_flowers
from diffusion_nb.core import precision_context

def eps_error(pipe, q, precision='fp32') -> float:
    "Relative RMS difference of one network call of `q` (in `precision`) against `pipe`'s in float32: 16 noise images at t = 10, 50, 150, 280 (× 4)."
    g = torch.Generator().manual_seed(0); r = pipe.resolution
    x, t = torch.randn(16, pipe.channels, r, r, generator=g), torch.tensor([10, 50, 150, 280] * 4).clamp(max=pipe.schedule.T - 1)
    with torch.no_grad():
        a = pipe.model(x, t)
        with precision_context('cpu', precision): b = q.model(x, t).float()
    return ((b - a).pow(2).mean().sqrt() / a.pow(2).mean().sqrt()).item()

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('model', help='a shipped model name, pretrained folder, checkpoint or run folder')
    p.add_argument('--n', type=int, default=500, help='images per row (default 500)')
    p.add_argument('--steps', type=int, default=25, help='DDIM steps (default 25)')
    p.add_argument('--features', nargs='+', default=['flowers32'], choices=['flowers32', 'inception'], help='feature spaces (default flowers32)')
    p.add_argument('--floor', action='store_true', help='also score --n real train images (the floor)')
    p.add_argument('--min-numel', type=int, default=INT8_MIN_NUMEL, help=f'int8_min_numel for the copy (default {INT8_MIN_NUMEL}; 0: every matrix and kernel in int8)')
    p.add_argument('--json', default=None, help='also write the results to this JSON file')
    a = p.parse_args(argv)
    exts = [get_extractor(f) for f in a.features]
    src = resolve_pretrained(a.model); pipe = load_pretrained(src)
    with tempfile.TemporaryDirectory() as d:
        q = load_pretrained(pipe.save_pretrained(Path(d) / 'int8', dtype='int8', int8_min_numel=a.min_numel))
        mb = {'stored': (src / WEIGHTS_NAME).stat().st_size / 1e6, 'int8': (Path(d) / 'int8' / WEIGHTS_NAME).stat().st_size / 1e6}
    out = dict(model=str(a.model), stored_dtype=pipe.config.get('dtype', 'float32'), mb={k: round(v, 2) for k, v in mb.items()}, n=a.n, steps=a.steps,
               min_numel=a.min_numel, eps_error=round(eps_error(pipe, q), 5), eps_error_bf16=round(eps_error(pipe, pipe, 'bf16'), 5))
    ims = {k: generate_images(m, a.n, 50, 0, sampler='ddim', steps=a.steps)[0] for k, m in (('stored', pipe), ('int8', q))}
    diff = (ims['stored'].float() - ims['int8'].float()).abs()
    out.update(pixel_diff_mean=round(diff.mean().item(), 2), pixel_diff_max=int(diff.max()))
    print(f"{a.model}: {out['stored_dtype']} {mb['stored']:.2f} MB, int8 {mb['int8']:.2f} MB; pixel difference mean "
          f"{out['pixel_diff_mean']:.2f} / 255, largest {out['pixel_diff_max']}; one call's error {100 * out['eps_error']:.3f} % (bfloat16 autocast's: {100 * out['eps_error_bf16']:.3f} %)", flush=True)
    if a.floor:
        out['floor'] = score(load_flowers('train', pipe.resolution, limit=a.n), pipe.resolution, exts)
        print(line(f'real train images ({pipe.resolution} px)', out['floor'], exts), flush=True)
    for k in ('stored', 'int8'):
        out[k] = score(ims[k], pipe.resolution, exts)
        print(line(f"{k} ({out['stored_dtype'] if k == 'stored' else 'int8'})", out[k], exts), flush=True)
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
