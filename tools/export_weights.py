"""Turn a training run into a shipped model: EMA weights in float16 (or int8), config.json, loss.json and a README model card.

    python tools/export_weights.py RUN_DIR NAME --command "diffusion_nb_train ..." [--dtype int8] [--hardware "..."] [--notes "..."]

Writes diffusion_nb/weights/NAME/. Facts on the card (steps, images seen, wall time, loss) are read from the run's newest
complete checkpoint and its log.jsonl; wall time sums the gaps between log lines, leaving out pauses over 10 minutes
(a run that was stopped and resumed).
"""
import argparse, json, math
from pathlib import Path

from diffusion_nb.pretrained import WEIGHTS_DIR, INT8_MIN_NUMEL, load_pretrained, save_pretrained
from diffusion_nb.unet_parts import count_params
from diffusion_nb.storage import latest_checkpoint
from diffusion_nb.training import read_log
from diffusion_nb.sampling import sampler_config

PAUSE_S = 600  # a gap between two log lines longer than this is a stop, not training time

def run_facts(run:Path, ckpt:Path, cfg:dict) -> dict:
    "Steps, images, epochs, wall hours and the loss of the run up to the checkpoint (config `cfg`), from its log."
    st = json.loads((ckpt / 'state.json').read_text())
    step, bs = st['step'], cfg['train']['bs'] * cfg['train'].get('world_size', 1)
    log = [o for o in read_log(run) if o['step'] <= step]
    gaps = [b['time'] - a['time'] for a, b in zip(log, log[1:])]
    wall = sum(g for g in gaps if g <= PAUSE_S)
    n_train = 7370
    last = [o['loss'] for o in log if o['step'] > step - 500]
    return dict(checkpoint=ckpt.name, steps=step, images_seen=step * bs, epochs=round(step * bs / n_train, 1),
                wall_hours=round(wall / 3600, 2), resumed=sum(g > PAUSE_S for g in gaps),
                final_loss_mean_last_500_steps=round(sum(last) / len(last), 4)), log

def loss_curve(log:list, every:int=100) -> dict:
    "The logged loss averaged over windows of `every` steps: {'step': [...], 'loss': [...]}."
    win = {}
    end = log[-1]['step']  # the last window ends at the checkpoint's step
    for o in log: win.setdefault(min(math.ceil(o['step'] / every) * every, end), []).append(o['loss'])
    steps = sorted(win)
    return dict(every=every, step=steps, loss=[round(sum(win[s]) / len(win[s]), 5) for s in steps])

CARD = """# {name}

A DDPM {origin} on Oxford Flowers-102 (train split only, 7,370 images, {res} × {res} px, random flips)
with diffusion_nb's own `diffusion_nb_train`. EMA weights (decay {ema}), stored in {stored} ({mb:.1f} MB); {params:,} parameters.

{steps} steps of batch {bs} = {images:,} images seen ({epochs} epochs) in {hours:.2f} hours of training wall time on
{hardware}.

- Schedule: {sched}, T = {T}; target ε; loss {loss}; AdamW lr {lr:g}, {warmup} warm-up steps, then {decay};
  gradient clipping {clip}; seed {seed}. Mean training loss over the last 500 steps: {final_loss}.
- Command (the run was stopped and continued with `--resume` {resumed} time(s); see the notes below):

```sh
{command}
```
{notes}
- Loss curve: `loss.json` (the logged loss averaged over windows of 100 steps), drawn in the notebook
  *Pretrained models*; FID/KID per sampler in the notebook *Evaluation*.
- Generate: `diffusion_nb_generate --model {name} --n 16 --out flowers.png` ({sampler_words}, x̂₀ clamped).
"""

def _sampler_words(pipe, spec):
    "The card's words for the default sampler `spec` (SamplerConfig fields, or None) of `pipe`."
    if not spec: return 'DDIM, 50 steps'
    s = sampler_config(**spec)
    name = {'ddim': 'DDIM', 'ddpm': 'DDPM', 'dpm++': 'DPM-Solver++ 2M', 'dpm++sde': 'SDE-DPM-Solver++'}[s.sampler]
    return f"its default sampler, {name}, {len(pipe.sampler(s))} steps"   # the steps it runs, also when spec leaves them to the sampler

def _origin(init, name):
    "How the card names where training started."
    if not init: return 'trained from scratch'
    if Path(init).name == name: return f"continued from the previous release of `{name}` (its EMA weights)"
    return f"fine-tuned from `{Path(init).name}` (its EMA weights)"

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('run', type=Path); p.add_argument('name')
    p.add_argument('--command', required=True, help='the training command, as given to the card')
    p.add_argument('--hardware', default='2 CPU cores (AMD EPYC, AVX2 without AVX-512 or bfloat16 units), one thread, float32, beside other work')
    p.add_argument('--notes', default='', help='more Markdown for the card')
    p.add_argument('--dtype', choices=('float16', 'int8'), default='float16', help='how the weights are stored (int8: a quarter of float32, per-channel scales)')
    p.add_argument('--dest-root', type=Path, default=WEIGHTS_DIR, help='where the NAME folder goes (default: the package)')
    p.add_argument('--default-sampler', type=json.loads, default=None, metavar='JSON',
                   help='the model\'s default sampler, SamplerConfig fields as JSON, e.g. \'{"sampler": "dpm++", "steps": 15}\' (default: none, so DDIM 50)')
    p.add_argument('--checkpoint', help="which checkpoint of RUN to ship, e.g. ckpt-6300 (default: the newest complete one)")
    a = p.parse_args(argv)
    ck = a.run / a.checkpoint if a.checkpoint else latest_checkpoint(a.run)
    if ck is None or not (ck / 'state.json').exists(): raise SystemExit(f"no complete checkpoint {ck or ''} in {a.run}")
    pipe = load_pretrained(ck)  # EMA weights
    cfg, dest = pipe.config, a.dest_root / a.name
    facts, log = run_facts(a.run, ck, cfg)
    params = count_params(pipe.model)
    pipe_dest = save_pretrained(
        dest, pipe.model, pipe.schedule, pipe.target, pipe.resolution, dtype=a.dtype,
        loss=cfg.get('loss'), min_snr_gamma=cfg.get('min_snr_gamma'), train=cfg.get('train'), channels=cfg.get('channels', 3),
        dataset=f'Oxford Flowers-102, train split (7,370 images), {pipe.resolution} px', weights=f"EMA (decay {cfg['train']['ema_decay']})",
        training=dict(name=a.name, **facts, params=params, command=a.command, hardware=a.hardware),
        **({'sampler': a.default_sampler} if a.default_sampler else {}))
    (dest / 'loss.json').write_text(json.dumps(loss_curve(log)))
    t = cfg['train']
    (dest / 'README.md').write_text(CARD.format(
        name=a.name, stored=dict(float16='float16', int8=f'int8 (matrices of ≥ {INT8_MIN_NUMEL:,} elements, a float32 scale per output channel; the rest float16), loaded back as float32')[a.dtype], origin=_origin(t.get('init'), a.name),
        res=pipe.resolution, decay='cosine decay' if t['cosine'] else 'constant', ema=t['ema_decay'], mb=(dest / 'model.safetensors').stat().st_size / 1e6, params=params,
        steps=facts['steps'], bs=t['bs'], images=facts['images_seen'], epochs=facts['epochs'], hours=facts['wall_hours'],
        hardware=a.hardware, sched=cfg['schedule']['kind'], T=cfg['schedule']['T'], loss=cfg.get('loss', '?').upper(),
        lr=t['lr'], warmup=t['warmup'], clip=t['grad_clip'], seed=t['seed'], final_loss=facts['final_loss_mean_last_500_steps'],
        resumed=facts['resumed'], command=a.command, sampler_words=_sampler_words(pipe, a.default_sampler), notes=('\n' + a.notes.strip() + '\n') if a.notes else ''))
    print(f"{pipe_dest}: {facts}")

if __name__ == '__main__': main()
