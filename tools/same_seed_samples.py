"""Two images per shipped model and sampler, same seed, float32: the reference 07_pretrained's regression test compares with.

    python tools/same_seed_samples.py nbs/data/same_seed_samples.safetensors                      # every shipped model
    python tools/same_seed_samples.py nbs/data/same_seed_samples.safetensors flowers64-attention  # re-make one, keep the rest

The file in nbs/data/ was made by this script at commit 68d42d1, before the package re-cut (issue 28), so the test shows
that moving code between modules changed no image; `flowers64-attention`'s entries were re-made when its weights were
replaced (the model card says when). Re-make entries only when a change is meant to change their images.
"""
import torch, json, sys
from pathlib import Path
from diffusion_nb.pretrained import load_pretrained, list_pretrained
from safetensors import safe_open
from safetensors.torch import save_file
path, only = Path(sys.argv[1]), sys.argv[2:]
out, meta = {}, {}
if only and path.exists():  # keep the other models' entries as they are
    with safe_open(path, 'pt') as f: out, meta = {k: f.get_tensor(k) for k in f.keys()}, {k: f.metadata()[k] for k in f.keys()}
if bad := sorted(set(only) - set(list_pretrained())): sys.exit(f"not a shipped model: {', '.join(bad)}")
cases = [('ddim', dict(steps=10)), ('dpm++sde', dict(steps=5))]
for name in only or list_pretrained():
    p = load_pretrained(name)
    for smp, kw in cases:
        extra = dict(y='sunflower', guidance=3.0) if p.model.config.get('num_classes') else {}
        ims = p(2, sampler=smp, seed=0, output='uint8', precision='fp32', **kw, **extra)
        out[f'{name}/{smp}'] = torch.as_tensor(ims).contiguous()
        meta[f'{name}/{smp}'] = json.dumps(dict(sampler=smp, n=2, seed=0, precision='fp32', **kw, **extra))
save_file(out, str(path), metadata=meta)
print({k: tuple(v.shape) for k, v in out.items()})
