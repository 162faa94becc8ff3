"""Shrink large image outputs saved in notebooks, keeping the picture.

    python tools/shrink_outputs.py nbs/08_evaluation.ipynb [--min-kb 30] [--quality 80] [--check]

Each PNG output over --min-kb is re-encoded as a 256-colour PNG (plots: few colours, exact enough) or as a JPEG (photo
grids), whichever is smaller; it is replaced only when that saves at least a fifth. Then run `nbdev_clean`. With --check
nothing is written; the command lists what it would change and exits 1 if anything would.
"""
import argparse, base64, io, json, sys
from pathlib import Path
from PIL import Image

def smaller(png_b64:str, quality:int=80):
    "(mime type, base64) of the smallest re-encoding of a base64 PNG: a 256-colour PNG or a JPEG."
    im = Image.open(io.BytesIO(base64.b64decode(png_b64)))
    rgb = im.convert('RGB')
    out = {}
    b = io.BytesIO(); rgb.quantize(256, method=Image.Quantize.MEDIANCUT).save(b, 'PNG', optimize=True); out['image/png'] = b.getvalue()
    b = io.BytesIO(); rgb.save(b, 'JPEG', quality=quality, optimize=True); out['image/jpeg'] = b.getvalue()
    mime = min(out, key=lambda k: len(out[k]))
    return mime, base64.b64encode(out[mime]).decode()

def shrink(path, min_kb=30, quality=80, write=True) -> list:
    "Re-encode the large PNG outputs of the notebook at `path`; returns (cell index, old KB, new KB, type) per change."
    nb = json.loads(Path(path).read_text())
    changes = []
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs', []):
            d = o.get('data', {})
            png = d.get('image/png')
            if not png: continue
            png = ''.join(png) if isinstance(png, list) else png
            if len(png) < min_kb * 1024: continue
            if 'image/jpeg' in d:   # the same picture twice: keep the JPEG
                del d['image/png']; changes.append((i, len(png) // 1024, 0, 'dropped (a JPEG of it is kept)')); continue
            mime, new = smaller(png, quality)
            if len(new) > 0.8 * len(png): continue
            del d['image/png']; d[mime] = new
            changes.append((i, len(png) // 1024, len(new) // 1024, mime))
    if write and changes: Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return changes

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('paths', nargs='+'); p.add_argument('--min-kb', type=int, default=30)
    p.add_argument('--quality', type=int, default=80); p.add_argument('--check', action='store_true')
    a = p.parse_args(argv)
    any_change = False
    for path in a.paths:
        for i, old, new, mime in shrink(path, a.min_kb, a.quality, write=not a.check):
            any_change = True; print(f"{path} cell {i}: {old} KB PNG -> {new} KB {mime}")
    if a.check and any_change: sys.exit(1)

if __name__ == '__main__': main()
