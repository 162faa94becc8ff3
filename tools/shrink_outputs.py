"""Shrink large image outputs saved in notebooks, keeping the picture.

    python tools/shrink_outputs.py nbs/08_evaluation.ipynb [--min-kb 30] [--quality 80] [--max-width 640] [--check]

Each PNG or JPEG output over --min-kb is re-encoded as a 256-colour PNG (plots: few colours, exact enough) or as a JPEG
(photo grids), whichever is smaller; it is replaced only when that saves at least a fifth. With --max-width, a picture
wider than that many pixels is first scaled down (Lanczos) to that width (the docs page shows it no wider anyway), and
replaced whenever that is smaller. Then run
`nbdev_clean`. With --check nothing is written; the command lists what it would change and exits 1 if anything would.
"""
import argparse, base64, io, json, sys
from pathlib import Path
from PIL import Image

def smaller(img_b64:str, quality:int=80, max_width:int=None):
    "(mime type, base64) of the smallest re-encoding of a base64 image, at most `max_width` wide: a 256-colour PNG or a JPEG."
    rgb = Image.open(io.BytesIO(base64.b64decode(img_b64))).convert('RGB')
    if max_width and rgb.width > max_width: rgb = rgb.resize((max_width, round(rgb.height * max_width / rgb.width)), Image.LANCZOS)
    out = {}
    b = io.BytesIO(); rgb.quantize(256, method=Image.Quantize.MEDIANCUT).save(b, 'PNG', optimize=True); out['image/png'] = b.getvalue()
    b = io.BytesIO(); rgb.save(b, 'JPEG', quality=quality, optimize=True); out['image/jpeg'] = b.getvalue()
    mime = min(out, key=lambda k: len(out[k]))
    return mime, base64.b64encode(out[mime]).decode()

def shrink(path, min_kb=30, quality=80, write=True, max_width=None) -> list:
    "Re-encode the large image outputs of the notebook at `path`; returns (cell index, old KB, new KB, type) per change."
    nb = json.loads(Path(path).read_text())
    changes = []
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs', []):
            d = o.get('data', {})
            if 'image/png' in d and 'image/jpeg' in d:   # the same picture twice: keep the JPEG
                png = d.pop('image/png'); changes.append((i, len(''.join(png)) // 1024, 0, 'dropped (a JPEG of it is kept)'))
            old = next((k for k in ('image/png', 'image/jpeg') if k in d), None)
            if old is None: continue
            img = ''.join(d[old]) if isinstance(d[old], list) else d[old]
            if len(img) < min_kb * 1024: continue
            mime, new = smaller(img, quality, max_width)
            too_wide = max_width and Image.open(io.BytesIO(base64.b64decode(img))).width > max_width
            if len(new) > (1 if too_wide else 0.8) * len(img): continue   # a scaled-down picture only has to be smaller
            del d[old]; d[mime] = new
            changes.append((i, len(img) // 1024, len(new) // 1024, f"{old} -> {mime}"))
    if write and changes: Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return changes

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('paths', nargs='+'); p.add_argument('--min-kb', type=int, default=30)
    p.add_argument('--quality', type=int, default=80); p.add_argument('--check', action='store_true')
    p.add_argument('--max-width', type=int, default=None, help='scale pictures wider than this down to it')
    a = p.parse_args(argv)
    any_change = False
    for path in a.paths:
        for i, old, new, what in shrink(path, a.min_kb, a.quality, write=not a.check, max_width=a.max_width):
            any_change = True; print(f"{path} cell {i}: {old} KB -> {new} KB ({what})")
    if a.check and any_change: sys.exit(1)

if __name__ == '__main__': main()
