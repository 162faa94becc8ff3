"""Two images per shipped model and sampler, same seed, float32: the reference 07_pretrained's regression test compares with.

    python tools/same_seed_samples.py nbs/data/same_seed_samples.safetensors

The file in nbs/data/ was made by this script at commit 68d42d1, before the package re-cut (issue 28), so the test shows
that moving code between modules changed no image. Re-make it only when a change is meant to change the images.
"""
import torch, json, sys
from diffusion_nb.pretrained import load_pretrained, list_pretrained
from safetensors.torch import save_file
out, meta = {}, {}
cases = [('ddim', dict(steps=10)), ('dpm++sde', dict(steps=5))]
for name in list_pretrained():
    p = load_pretrained(name)
    for smp, kw in cases:
        extra = dict(y='sunflower', guidance=3.0) if p.model.config.get('num_classes') else {}
        ims = p(2, sampler=smp, seed=0, output='uint8', precision='fp32', **kw, **extra)
        out[f'{name}/{smp}'] = torch.as_tensor(ims).contiguous()
        meta[f'{name}/{smp}'] = json.dumps(dict(sampler=smp, n=2, seed=0, precision='fp32', **kw, **extra))
save_file(out, sys.argv[1], metadata=meta)
print({k: tuple(v.shape) for k, v in out.items()})
