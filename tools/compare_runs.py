"""Score training checkpoints against each other: FID/KID against the test split after a given training time.

    python tools/compare_runs.py runs/cmp64/simple-scratch/ckpt-200 runs/cmp64/simple-finetune/ckpt-200 --n 200 --steps 25

For each checkpoint (or run folder: its newest checkpoint) it prints the step, the images seen, the training wall time read
from the run's log.jsonl (as tools/export_weights.py counts it), the mean loss of the last 50 logged steps, and FID/KID of
`--n` EMA samples (DDIM, `--steps`, seed 0) against the test split at the checkpoint's resolution, in the offline
flowers32 feature space; a first row scores `--n` real train images the same way (the floor), and `--upscaled NAME`
adds a row for a lower-resolution model's samples enlarged (bicubic) to the checkpoints' resolution. Runs of one model at one
batch size cost the same per step, so equal steps there mean equal CPU time.
"""
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from export_weights import run_facts
from diffusion_nb.pretrained import load_pretrained, resolve_pretrained
import torch, torch.nn.functional as F
from diffusion_nb.data import to_float, to_uint8
from diffusion_nb.metrics import evaluate_sampler, real_row, get_extractor, generate_images, image_metrics, real_features

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('ckpts', nargs='+', help='checkpoint or run folders')
    p.add_argument('--n', type=int, default=200, help='images per row (default 200)')
    p.add_argument('--steps', type=int, default=25, help='DDIM steps (default 25)')
    p.add_argument('--upscaled', default=None, help="also score this model's samples enlarged to the checkpoints' resolution")
    p.add_argument('--json', default=None, help='also write the rows to this JSON file')
    a = p.parse_args(argv)
    ext, rows, floors = get_extractor(), [], {}
    for c in a.ckpts:
        ck = resolve_pretrained(c)
        cfg = json.loads((ck / 'config.json').read_text())
        facts, log = run_facts(ck.parent if (ck.parent / 'log.jsonl').is_file() else ck, ck, cfg)  # a copied checkpoint may hold its log
        res = cfg['resolution']
        if res not in floors:
            floors[res] = r = real_row(a.n, res, ext)
            print(f"{'real train images ' + str(res) + ' px':<44} FID {r['fid']:7.2f}  KID {r['kid']:.4f}", flush=True)
        r = evaluate_sampler(load_pretrained(ck), a.n, extractor=ext, bs=50, sampler='ddim', steps=a.steps)
        loss = [o['loss'] for o in log][-10:]
        row = dict(ckpt=str(ck), resolution=res, step=facts['steps'], images=facts['images_seen'], train_min=round(facts['wall_hours'] * 60, 1),
                   loss=round(sum(loss) / len(loss), 4), fid=round(r['fid'], 2), kid=round(r['kid'], 4), kid_std=round(r['kid_std'], 4),
                   floor_fid=round(floors[res]['fid'], 2), init=cfg['train'].get('init'))
        rows.append(row)
        print(f"{str(ck):<44} step {row['step']:>5}  {row['images']:>7} img  {row['train_min']:>6.1f} min  loss {row['loss']:.4f}  "
              f"FID {row['fid']:7.2f}  KID {row['kid']:.4f} ± {row['kid_std']:.4f}", flush=True)
    if a.upscaled:
        pipe, res = load_pretrained(a.upscaled), rows[-1]['resolution']
        ims, _ = generate_images(pipe, a.n, 50, 0, sampler='ddim', steps=a.steps)
        big = to_uint8(F.interpolate(to_float(ims), size=(res, res), mode='bicubic', align_corners=False).clamp(-1, 1))
        r = image_metrics(big, real_features('test', res, ext), ext)
        rows.append(dict(ckpt=f'{a.upscaled} enlarged to {res} px', resolution=res, fid=round(r['fid'], 2), kid=round(r['kid'], 4)))
        print(f"{rows[-1]['ckpt']:<44} FID {r['fid']:7.2f}  KID {r['kid']:.4f} ± {r['kid_std']:.4f}", flush=True)
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=1))

if __name__ == '__main__': main()
