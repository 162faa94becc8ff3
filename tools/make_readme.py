#!/usr/bin/env python
"Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which is not always available); `--check` fails if they differ."
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
HEADER = "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n"

def _src(cell): return ''.join(cell['source'])

def _directives(src):
    "The `#| key: value` lines at the top of a code cell, as a dict, and the code without them"
    lines, opts = src.splitlines(), {}
    while lines and re.match(r'\s*#\|', lines[0]):
        k, _, v = lines.pop(0).split('|', 1)[1].strip().partition(':')
        opts[k.strip()] = v.strip() or True
    return opts, '\n'.join(lines).strip()

def _nb_links(md):
    "Point relative links to notebooks and images (`](00_data.ipynb)`, `](images/x.png)`) at `nbs/`, where they live"
    return re.sub(r'\]\((?![a-z]+:|/|#)([^)\s]+\.(?:ipynb|png|jpe?g|gif|svg))\)', r'](nbs/\1)', md)

def _outputs(cell):
    "Markdown for the text outputs of a code cell"
    res = []
    for o in cell.get('outputs', []):
        if o['output_type'] == 'stream' and o.get('name') == 'stdout': res.append(f"```\n{''.join(o['text']).rstrip()}\n```")
        elif o['output_type'] in ('execute_result', 'display_data'):
            d = o['data']
            if 'text/markdown' in d: res.append(''.join(d['text/markdown']).rstrip())
            elif 'text/plain' in d and not any(k.startswith('image/') or k == 'text/html' for k in d): res.append(f"```\n{''.join(d['text/plain']).rstrip()}\n```")
    return res

def render(nb_path=root/'nbs'/'index.ipynb'):
    "README text for the notebook at `nb_path`"
    nb, parts = json.loads(Path(nb_path).read_text(encoding='utf-8')), [HEADER]
    for cell in nb['cells']:
        src = _src(cell)
        if cell['cell_type'] == 'markdown': parts.append(_nb_links(src.strip())); continue
        if cell['cell_type'] != 'code': continue
        opts, code = _directives(src)
        if opts.get('hide') or opts.get('include') == 'false': continue
        if code and opts.get('echo') != 'false': parts.append(f"``` python\n{code}\n```")
        if opts.get('output') != 'false': parts += _outputs(cell)
    return '\n\n'.join(p for p in parts if p) + '\n'

if __name__ == '__main__':
    text, readme = render(), root/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            sys.exit("README.md is not what nbs/index.ipynb makes: run `python tools/make_readme.py` and commit it.")
        print("README.md matches nbs/index.ipynb")
    else: readme.write_text(text, encoding='utf-8'); print(f"wrote {readme}")
