#!/usr/bin/env python
"""Build the docs site into `_docs/` without Quarto: nbdev's notebook processing, then smalldocs.

    python tools/build_docs.py            # from anywhere; works in the repository that holds this file

1. The steps of `nbdev_proc_nbs` (nbdev.quarto._pre_docs) except its Quarto install check (which would
   try to download and `sudo dpkg -i` Quarto): refresh nbs/nbdev.yml from settings.ini, rebuild the
   module index, and process the notebooks into `_proc/` (show_doc cells
   become API reference, `#|` directives applied, `_quarto.yml`, `styles.css` copied). nbs/sidebar.yml is
   written by hand, in sections (the path, the appendices): `custom_sidebar = True` keeps nbdev from regenerating it.
   Pages whose notebook is gone from nbs/ are dropped from `_proc/` (nbdev's cache keeps them).
2. `smalldocs render` of a copy of `_proc` (the same `_quarto.yml` project Quarto would render) into its
   `_docs/`, which is then moved to the repository's `_docs/` (as `nbdev_docs` does).
3. KaTeX, which smalldocs links from a CDN, is copied into `_docs/site_libs/katex/` and every page is
   pointed at that copy, so maths renders with no network. KaTeX comes from `$DIFFUSION_NB_KATEX` (a
   folder holding KaTeX's `dist/` files, or an npm `.tgz`), else a cached `npm pack katex@<version>`
   in `~/.cache/diffusion_nb/` (made on first use; the npm registry is needed once), else Debian's
   `libjs-katex`. With none of these the CDN links stay and the TeX source stays readable as `\\(...\\)`.
   Web-font `@import`s are dropped from the theme's CSS (the theme's fallback fonts are used).

Each notebook's page gets the name nbdev gives it in `output-file` (`00_data.ipynb` -> `data.html`), as Quarto
does, and nbdev's absolute doc links (`doc_host/doc_baseurl/data.html#load_flowers`) point into the local site.
"""
import argparse, os, re, shutil, subprocess, sys, tarfile, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KATEX_FILES = ('katex.min.css', 'katex.min.js', 'contrib/auto-render.min.js')


def log(*a): print('build_docs:', *a, flush=True)


def proc_nbs(force:bool=False, n_workers:int=2):
    "Run what `nbdev_proc_nbs` runs, less its Quarto install; return the `_proc` folder."
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs as _proc_nbs
    import nbdev.doclinks
    cfg = get_config()
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    proc = _proc_nbs(cfg.nbs_path, n_workers=n_workers, force=force)
    prune(proc, cfg.nbs_path)
    return proc, cfg


def prune(proc:Path, nbs:Path):
    "Delete pages in `_proc` whose source in `nbs` is gone (nbdev's cache keeps them, and they would be rendered)."
    for f in [*proc.rglob('*.ipynb'), *proc.rglob('*.qmd'), *proc.rglob('*.md')]:
        rel = f.relative_to(proc)
        if rel.parts[0] in ('_docs', '_site'): continue
        src = nbs/rel
        if not src.exists() and not src.with_name(src.name + '.py').exists():
            log(f'dropping {rel} from {proc.name}/: nbs/{rel} is gone'); f.unlink()


_re_outfile = re.compile(r'^output-file:\s*["\']?([^"\'\s]+)', re.M)

def _output_file(nb:dict) -> str|None:
    "The `output-file` nbdev put in a processed notebook's front matter (`00_data.ipynb` -> `data.html`)."
    for c in nb.get('cells', [])[:2]:
        if c.get('cell_type') == 'raw':
            m = _re_outfile.search(''.join(c.get('source', '')))
            if m: return m.group(1)


def _relink(text:str, renames:dict) -> str:
    "Point markdown and HTML links at renamed notebooks: `](00_data.ipynb#x)` -> `](data.ipynb#x)`."
    for old, new in renames.items():
        text = re.sub(r'(\]\(\s*<?(?:\./)?|href=\\?["\'](?:\./)?)' + re.escape(old) + r'(?=[#)"\'>\s\\])',
                      lambda m: m.group(1) + new, text)
    return text


def stage(proc:Path) -> tuple[Path, int]:
    """Copy `_proc` to a temporary project in which each notebook is named after the `output-file` nbdev gave it,
    so smalldocs writes the pages at the URLs Quarto would (`data.html`, not `00_data.html`)."""
    import json
    dest = Path(tempfile.mkdtemp(prefix='diffusion_nb_docs_'))
    shutil.copytree(proc, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns('_docs', '_site'))
    renames = {}
    for nb_path in sorted(dest.rglob('*.ipynb')):
        out = _output_file(json.loads(nb_path.read_text(encoding='utf-8')))
        if out and Path(out).stem != nb_path.stem:
            new = nb_path.with_name(Path(out).stem + '.ipynb')
            if new.exists(): sys.exit(f'build_docs: {nb_path.name} and {new.name} would both make {out}')
            nb_path.rename(new)
            renames[nb_path.name] = new.name
    if renames:
        for f in [*dest.rglob('*.ipynb'), *dest.rglob('*.qmd'), *dest.rglob('*.md'), *dest.rglob('*.yml')]:
            t = f.read_text(encoding='utf-8')
            new_t = _relink(t, renames)
            if f.suffix == '.yml':  # sidebar entries: `- 00_data.ipynb`
                for old, new in renames.items(): new_t = re.sub(rf'(?m)^(\s*-\s*(?:href:\s*)?){re.escape(old)}\s*$', rf'\g<1>{new}', new_t)
            if new_t != t: f.write_text(new_t, encoding='utf-8')
    return dest, len(renames)


def render(proc:Path, cfg) -> Path:
    "`smalldocs render` a staged copy of the processed project, and move its output to the configured `doc_path`."
    src, _ = stage(proc)
    try:
        r = subprocess.run([sys.executable, '-m', 'smalldocs.cli', 'render', '--quiet', str(src)], capture_output=True, text=True)
        for line in (r.stdout + r.stderr).splitlines():  # Quarto-only settings smalldocs skips by design are not news
            if not re.search(r'output-file is not read|format commonmark is not built|keep-md is ignored', line): print(line)
        if r.returncode: sys.exit(f'build_docs: FAIL: smalldocs render exited {r.returncode}')
        built, dest = src/cfg.doc_path.name, cfg.doc_path
        if not (built/'index.html').exists(): sys.exit(f'build_docs: smalldocs wrote no index.html')
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(built), str(dest))
    finally: shutil.rmtree(src, ignore_errors=True)
    return dest


def localise_links(docs:Path, cfg) -> int:
    "Make nbdev's absolute doc links (`doc_host/doc_baseurl/page.html#sym`) relative when the page is in `docs`."
    base = (cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/')).rstrip('/') + '/'
    pat = re.compile(r'href="' + re.escape(base) + r'([^"#?]*)([^"]*)"')
    n = 0
    for p in docs.rglob('*.html'):
        t = p.read_text(encoding='utf-8')
        def sub(m):
            nonlocal n
            target = docs/(m.group(1) or 'index.html')
            if not target.exists(): return m.group(0)
            n += 1
            return 'href="' + os.path.relpath(target, p.parent).replace(os.sep, '/') + m.group(2) + '"'
        new_t = pat.sub(sub, t)
        if new_t != t: p.write_text(new_t, encoding='utf-8')
    return n


def katex_cdn() -> tuple[str, str]:
    "The KaTeX CDN prefix smalldocs writes into pages, and its version."
    from smalldocs.layout import KATEX
    m = re.search(r'katex@([\d.]+)', KATEX)
    return KATEX, (m.group(1) if m else 'latest')


def _from_tgz(tgz:Path, dest:Path) -> bool:
    "Extract `package/dist/{KaTeX files, fonts}` of an npm tarball into `dest`."
    with tarfile.open(tgz) as tf:
        members = [m for m in tf.getmembers() if m.isfile() and m.name.startswith('package/dist/')]
        names = {m.name[len('package/dist/'):]: m for m in members}
        if not all(f in names for f in KATEX_FILES): return False
        for rel, m in names.items():
            if rel in KATEX_FILES or rel.startswith('fonts/'):
                out = dest/rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(tf.extractfile(m).read())
    return True


def _from_dir(src:Path, dest:Path) -> bool:
    "Copy KaTeX's files from a folder laid out like its `dist/`."
    if not all((src/f).exists() for f in KATEX_FILES): return False
    for f in KATEX_FILES:
        (dest/f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src/f, dest/f)
    if (src/'fonts').is_dir(): shutil.copytree(src/'fonts', dest/'fonts', dirs_exist_ok=True)
    return True


def _npm_pack(version:str) -> Path|None:
    "The cached `npm pack katex@version` tarball, packing it on first use; None when npm cannot."
    cache = Path(os.environ.get('DIFFUSION_NB_CACHE', Path.home()/'.cache'/'diffusion_nb'))
    tgz = cache/f'katex-{version}.tgz'
    if tgz.exists(): return tgz
    npm = shutil.which('npm')
    if not npm: return None
    cache.mkdir(parents=True, exist_ok=True)
    try: r = subprocess.run([npm, 'pack', f'katex@{version}', '--pack-destination', str(cache)],
                            capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired: return None
    return tgz if r.returncode == 0 and tgz.exists() else None


def vendor_katex(docs:Path) -> bool:
    "Copy KaTeX into `docs/site_libs/katex` and point every page at it; False when no copy was found."
    cdn, version = katex_cdn()
    pages = [p for p in docs.rglob('*.html') if cdn in p.read_text(encoding='utf-8')]
    if not pages: return True
    dest = docs/'site_libs'/'katex'
    shutil.rmtree(dest, ignore_errors=True)
    env = os.environ.get('DIFFUSION_NB_KATEX')
    sources = []
    if env: sources.append(Path(env))
    sources += [lambda: _npm_pack(version), Path('/usr/share/javascript/katex')]
    ok = False
    for s in sources:
        s = s() if callable(s) else s
        if s is None or not s.exists(): continue
        ok = _from_tgz(s, dest) if s.is_file() else _from_dir(s, dest)
        if ok: log(f'KaTeX {version} from {s}'); break
    if not ok:
        log(f'WARNING: no local KaTeX found (set DIFFUSION_NB_KATEX, or install npm or libjs-katex);'
            f' {len(pages)} page(s) keep CDN KaTeX links and show the TeX source when offline')
        return False
    for p in pages:
        rel = os.path.relpath(dest, p.parent).replace(os.sep, '/')
        p.write_text(p.read_text(encoding='utf-8').replace(cdn, rel), encoding='utf-8')
    return True


def offline_css(docs:Path) -> int:
    "Drop `@import`s of web fonts from the site's stylesheets (Bootswatch themes pull Google Fonts); the themes' own font stacks take over."
    n = 0
    for css in (docs/'site_libs').rglob('*.css'):
        t = css.read_text(encoding='utf-8')
        new_t = re.sub(r'@import\s+url\(\s*["\']?(?:https?:)?//[^)]*\)\s*;?', '', t)
        if new_t != t: css.write_text(new_t, encoding='utf-8'); n += 1
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--force', action='store_true', help='process every notebook again, ignoring _proc/')
    ap.add_argument('--n-workers', type=int, default=2, help='processes for notebook processing')
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    t0 = time.time()
    try: proc, cfg = proc_nbs(force=args.force, n_workers=args.n_workers)
    except Exception as e:
        msg, c = str(e).strip(), e.__cause__
        while c is not None:  # the error inside the notebook, from the worker's traceback
            errs = [l for l in re.findall(r'(?m)^\w*(?:Error|Exception)\b.*$', str(c)) if not l.startswith('Exception: Error in notebook')]
            if errs: msg += f'\n  -> {errs[-1]}'; break
            c = c.__cause__
        sys.exit(f'build_docs: FAIL: nbdev could not process the notebooks: {msg}\n'
                 'build_docs: nbdev runs exported cells, show_doc cells and every cell with an import to make the docs;'
                 ' a cell that mixes imports with other code runs without the cells before it: give imports a cell of their own.')
    t1 = time.time()
    docs = render(proc, cfg)
    localise_links(docs, cfg)
    offline_css(docs)
    vendor_katex(docs)
    n = len(list(docs.rglob('*.html')))
    log(f'{n} pages in {docs.relative_to(ROOT)}/ (notebooks {t1-t0:.1f}s, site {time.time()-t1:.1f}s);'
        f' open {docs.relative_to(ROOT)}/index.html or run: python -m http.server -d {docs.relative_to(ROOT)}')


if __name__ == '__main__': main()
