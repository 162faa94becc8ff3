#!/usr/bin/env python
"""Check the docs site: build it, check every internal link and asset, then look at it in headless Chromium.

    python tools/check_docs.py                   # build with tools/build_docs.py, then check _docs/
    python tools/check_docs.py --no-build        # check the _docs/ already there
    python tools/check_docs.py --screenshots DIR # keep the screenshots in DIR (default: a temporary folder)

1. Static, over every HTML file in `_docs/`: each internal `href`/`src` names a file of the site (and an
   `#anchor` that exists on the page it names); no script, stylesheet, image or font comes from another host
   (the site renders with no network); every notebook in nbs/ is listed in the hand-written `nbs/sidebar.yml`,
   every notebook listed there has a page, and the
   sidebar of the home page lists them all, in that order, under the sections (`- section:`) the file puts them in; no cell output shows a traceback, and no
   stderr output shows a warning or an error (tqdm bars are fine; errors printed on purpose are fine);
   the build left the committed nbs/nbdev.yml and nbs/sidebar.yml as they were.
2. Headless Chromium (Debian's `chromium`, installed with apt-get when missing) loads the home page and one
   notebook page with an image from a localhost http.server, and the rendered DOM must show the page's
   `# Title` heading as its h1, the sidebar with every page shown and its section headings, an image that decoded, and typeset KaTeX where
   the page has maths. A screenshot of each is taken and must not be blank.
Exits 1 with one line per problem.
"""
import argparse, functools, html, http.server, json, os, re, shutil, subprocess, sys, tempfile, threading, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
CHROME_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--hide-scrollbars', '--window-size=1280,1000']
ASSET_TAGS = {'img', 'script', 'source', 'iframe', 'video', 'audio', 'embed'}


def log(*a): print('check_docs:', *a, flush=True)


class Page(HTMLParser):
    "Collect the links, assets, ids, headings and cell outputs of one HTML page."
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.assets, self.ids, self.sidebar, self.imgs = [], [], set(), [], 0
        self.sidebar_seq, self._in_section_head = [], False  # ('section', title) and ('page', href) in the sidebar's order
        self.h1, self._in_h1, self._in_sidebar, self._out_depth, self._div_depth = [], False, 0, [], 0
        self.outputs, self._text, self._stderr = [], [], []  # outputs: (text, is stderr) of each cell output

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'name'):
            if a.get(k): self.ids.add(a[k])
        if tag == 'a' and a.get('href'):
            self.links.append(a['href'])
            if self._in_sidebar:
                self.sidebar.append(a['href'])
                if not a['href'].startswith('#'): self.sidebar_seq.append(('page', Path(urlsplit(a['href']).path).name))
        elif tag == 'a' and self._in_sidebar and 'sidebar-link' in (a.get('class') or '').split():  # a section heading: no page, folds its entries
            self._in_section_head = True; self.sidebar_seq.append(('section', ''))
        if tag == 'link' and a.get('href'):
            (self.assets if 'stylesheet' in (a.get('rel') or '') or 'icon' in (a.get('rel') or '') else self.links).append(a['href'])
        if tag in ASSET_TAGS and a.get('src'): self.assets.append(a['src'])
        if tag == 'img': self.imgs += 1
        if tag == 'h1': self._in_h1 = True; self.h1.append('')
        if tag == 'nav' and a.get('id') == 'quarto-sidebar': self._in_sidebar = 1
        elif tag == 'nav' and self._in_sidebar: self._in_sidebar += 1
        if tag == 'div':
            self._div_depth += 1
            cls = (a.get('class') or '').split()
            if 'cell-output' in cls:
                self._out_depth.append(self._div_depth); self._text.append(''); self._stderr.append('cell-output-stderr' in cls)

    def handle_endtag(self, tag):
        if tag == 'h1': self._in_h1 = False
        if tag == 'a' and self._in_section_head:
            self._in_section_head = False; self.sidebar_seq[-1] = ('section', self.sidebar_seq[-1][1].strip())
        if tag == 'nav' and self._in_sidebar: self._in_sidebar -= 1
        if tag == 'div':
            if self._out_depth and self._out_depth[-1] == self._div_depth:
                self._out_depth.pop(); self.outputs.append((self._text.pop(), self._stderr.pop()))
            self._div_depth -= 1

    def handle_data(self, data):
        if self._in_h1: self.h1[-1] += data
        if self._in_section_head: self.sidebar_seq[-1] = ('section', self.sidebar_seq[-1][1] + data)
        if self._text: self._text[-1] += data


def parse(p:Path) -> Page:
    pg = Page(); pg.feed(p.read_text(encoding='utf-8')); pg.close(); return pg


def resolve(docs:Path, page:Path, url:str):
    "The file and fragment an internal URL names; None for external or non-file URLs."
    u = urlsplit(url)
    if u.scheme or u.netloc or url.startswith(('data:', 'mailto:', 'javascript:')): return None
    if not u.path: return page, unquote(u.fragment)
    target = (docs/unquote(u.path).lstrip('/')) if u.path.startswith('/') else (page.parent/unquote(u.path))
    if u.path.endswith('/') or target.is_dir(): target = target/'index.html'
    return target.resolve(), unquote(u.fragment)


def sidebar_layout() -> list[tuple[str, str]]:
    "What nbs/sidebar.yml lists, in order: ('section', title) for each `- section:`, ('page', name) for each notebook or page."
    import yaml
    from nbdev.config import get_config
    f = get_config().nbs_path/'sidebar.yml'
    out = []
    def walk(items):
        for it in items or []:
            if isinstance(it, str): out.append(('page', it))
            elif isinstance(it, dict):
                if it.get('section'): out.append(('section', str(it['section'])))
                if it.get('href'): out.append(('page', it['href']))
                walk(it.get('contents'))
    walk(yaml.safe_load(f.read_text())['website']['sidebar']['contents'])
    return out


def sidebar_entries() -> list[str]:
    "The notebook and page names nbs/sidebar.yml lists, in order."
    return [name for kind, name in sidebar_layout() if kind == 'page']


def nb_title(nb:Path) -> str|None:
    "The `# Title` of a notebook's first markdown cell."
    for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^#\s+(\S.*?)\s*$', ''.join(c['source']), flags=re.M)  # as nbdev.frontmatter._md2dict
            return m.group(1) if m else None


def page_of(name:str) -> str:
    "The page a notebook becomes: nbdev's `output-file` (`00_data.ipynb` -> `data.html`), which tools/build_docs.py keeps."
    from nbdev.doclinks import _nbpath2html
    return str(_nbpath2html(Path(name)) if name.endswith('.ipynb') else Path(name).with_suffix('.html'))


def static_checks(docs:Path) -> tuple[list[str], dict]:
    errs, pages = [], {}
    htmls = sorted(docs.rglob('*.html'))
    if not (docs/'index.html').exists(): return [f'{docs}/index.html is missing: the site has no home page'], {}
    parsed = {p.resolve(): parse(p) for p in htmls}
    for p, pg in parsed.items():
        rel = p.relative_to(docs.resolve())
        for url, is_asset in [(u, False) for u in pg.links] + [(u, True) for u in pg.assets]:
            if is_asset and re.match(r'^(https?:)?//', url):
                errs.append(f'{rel}: loads {url} from the network (vendor it into the site)'); continue
            r = resolve(docs, p, html.unescape(url))
            if r is None: continue
            target, frag = r
            if not target.exists():
                errs.append(f'{rel}: broken {"asset" if is_asset else "link"} {url}'); continue
            if frag and target.suffix == '.html' and target in parsed and frag not in parsed[target].ids:
                errs.append(f'{rel}: link {url} names no #{frag} on {target.name}')
        for o, stderr in pg.outputs:  # an error printed on purpose (stdout) is fine; tracebacks and stderr warnings are not
            m = re.search(r'Traceback \(most recent call last\)' + (r'|\b\w*(Warning|Error)\b:?' if stderr else ''), o)
            if m: errs.append(f'{rel}: a cell output shows {m.group(0).strip()!r}: {o.strip()[:120]!r}')
        css = [a for a in pg.assets if a.endswith('.css')]
        for c in css:  # fonts and images a stylesheet pulls in
            r = resolve(docs, p, c)
            if r and r[0].exists():
                for u in re.findall(r'url\(\s*["\']?([^"\')]+)', r[0].read_text(encoding='utf-8', errors='replace')):
                    if re.match(r'^(https?:)?//', u): errs.append(f'{Path(c).name}: loads {u} from the network')
                    elif not u.startswith('data:') and not (r[0].parent/unquote(urlsplit(u).path)).exists():
                        errs.append(f'{Path(c).name}: broken url({u})')
    errs = list(dict.fromkeys(errs))
    entries = sidebar_entries()
    expected = [page_of(e) for e in entries]
    home = parsed[(docs/'index.html').resolve()]
    got = [Path(urlsplit(h).path).name for h in home.sidebar if not h.startswith('#')]
    for e, pname in zip(entries, expected):
        if not (docs/pname).exists(): errs.append(f'{e} (in nbs/sidebar.yml) has no page {pname}')
    from nbdev.config import get_config
    nbs = get_config().nbs_path
    for nb in sorted(nbs.glob('*.ipynb')):
        if not nb.name.startswith(('_', '.')) and nb.name not in entries:
            errs.append(f'nbs/{nb.name} is not in nbs/sidebar.yml: add it to the path or the appendices')
    if got != expected: errs.append(f'home page sidebar lists {got}, nbs/sidebar.yml says {expected}')
    want_seq = [(k, page_of(n) if k == 'page' else n) for k, n in sidebar_layout()]
    if home.sidebar_seq != want_seq: errs.append(f'home page sidebar shows {home.sidebar_seq}, nbs/sidebar.yml says {want_seq}')
    if not (docs/'search.json').exists() or not json.loads((docs/'search.json').read_text()):
        errs.append('search.json is missing or empty: the search box finds nothing')
    return errs, {'parsed': parsed, 'entries': entries, 'expected': expected,
                  'sections': [n for k, n in sidebar_layout() if k == 'section']}


def stale_generated() -> list[str]:
    "The docs build regenerates nbs/nbdev.yml (settings.ini), and must leave the hand-written nbs/sidebar.yml alone: committed copies must match."
    from nbdev.config import get_config
    nbs = get_config().nbs_path
    files = [str((nbs/n).relative_to(ROOT)) for n in ('nbdev.yml', 'sidebar.yml')]
    try:
        tracked = subprocess.run(['git', 'ls-files', '--', *files], capture_output=True, text=True, cwd=ROOT).stdout.split()
        changed = subprocess.run(['git', 'diff', '--name-only', '--', *tracked], capture_output=True, text=True, cwd=ROOT).stdout.split() if tracked else []
    except OSError: return []
    return [f'{f} changed when the docs were built: commit the regenerated file' for f in changed]


def find_chromium() -> str:
    for n in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(n): return shutil.which(n)
    if shutil.which('apt-get') and os.geteuid() == 0:
        log('chromium is missing: apt-get install -y chromium')
        env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
        subprocess.run(['apt-get', 'update', '-qq'], env=env, stdout=subprocess.DEVNULL)
        subprocess.run(['apt-get', 'install', '-y', '-qq', 'chromium'], env=env, stdout=subprocess.DEVNULL)
        if shutil.which('chromium'): return shutil.which('chromium')
    sys.exit('check_docs: FAIL: no chromium, and `apt-get install -y chromium` could not install it')


# Loaded from the site's own origin, it opens a page in an iframe, waits for its scripts, and writes what it finds.
HARNESS = """<!doctype html><html><body><pre id="result">pending</pre><iframe id="f" style="width:1200px;height:900px"></iframe>
<script>
const page = new URLSearchParams(location.search).get('page'), f = document.getElementById('f');
f.onload = () => setTimeout(() => {
  const d = f.contentDocument, main = d.querySelector('main') || d.body, side = d.querySelector('#quarto-sidebar');
  const imgs = [...main.querySelectorAll('img')];
  document.getElementById('result').textContent = JSON.stringify({
    title: d.title, h1: [...d.querySelectorAll('h1')].map(h => h.textContent.trim()),
    h2: [...main.querySelectorAll('h2')].map(h => h.textContent.trim()),
    sidebar: side ? [...side.querySelectorAll('a.sidebar-link[href]')].map(a => a.textContent.trim()) : null,
    sidebar_shown: side ? [...side.querySelectorAll('a.sidebar-link[href]')].filter(a => a.getClientRects().length > 0).length : 0,
    sections: side ? [...side.querySelectorAll('a.sidebar-link:not([href])')].map(a => a.textContent.trim()) : null,
    sidebar_visible: !!side && side.getBoundingClientRect().width > 0,
    imgs: imgs.length, imgs_ok: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    math: main.querySelectorAll('.math').length, katex: main.querySelectorAll('.katex').length,
    search: !!d.querySelector('#quarto-search input'), text: main.innerText.length});
}, 1500);
f.src = page;
</script></body></html>"""


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith('/__check_docs__.html'):
            b = HARNESS.encode(); self.send_response(200)
            self.send_header('Content-Type', 'text/html'); self.send_header('Content-Length', str(len(b))); self.end_headers()
            self.wfile.write(b)
        else: super().do_GET()


def chromium(exe:str, args:list, timeout=60) -> str:
    with tempfile.TemporaryDirectory(prefix='check_docs_chrome_') as prof:
        r = subprocess.run([exe, *CHROME_FLAGS, f'--user-data-dir={prof}', *args], capture_output=True, text=True, timeout=timeout)
    return r.stdout


def browser_checks(docs:Path, info:dict, shots:Path) -> tuple[list[str], list[str]]:
    errs, notes = [], []
    parsed, entries, expected = info['parsed'], info['entries'], info['expected']
    from nbdev.config import get_config
    nbs = get_config().nbs_path
    # the home page, and the first notebook page in sidebar order that shows an image
    pick = next((e for e, p in zip(entries, expected) if p != 'index.html' and (docs/p).exists()
                 and parsed[(docs/p).resolve()].imgs), None)
    if pick is None: errs.append('no notebook page has an image: nothing to check a plot or grid on')
    targets = [('index.html', 'index.ipynb')] + ([(page_of(pick), pick)] if pick else [])
    exe = find_chromium()
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(docs)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{srv.server_address[1]}'
    try:
        for pname, nb in targets:
            t0 = time.time()
            dom = chromium(exe, ['--virtual-time-budget=10000', '--dump-dom', f'{base}/__check_docs__.html?page={pname}'])
            m = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
            try: res = json.loads(html.unescape(m.group(1)))
            except (AttributeError, ValueError): errs.append(f'{pname}: the browser did not report on the page ({dom[:200]!r})'); continue
            title = nb_title(nbs/nb) if (nbs/nb).exists() else None
            if title and title not in res['h1']: errs.append(f'{pname}: heading {title!r} not rendered (h1: {res["h1"]})')
            if not res['sidebar'] or len(res['sidebar']) != len(expected):
                errs.append(f'{pname}: sidebar shows {res["sidebar"]}, expected {len(expected)} pages')
            elif res['sidebar_shown'] != len(expected):
                errs.append(f'{pname}: {res["sidebar_shown"]} of the sidebar\'s {len(expected)} pages are shown (a section is folded)')
            if res['sections'] != info['sections']:
                errs.append(f'{pname}: sidebar sections {res["sections"]}, nbs/sidebar.yml says {info["sections"]}')
            if not res['sidebar_visible']: errs.append(f'{pname}: the sidebar is not visible at 1280 px')
            if not res['search']: errs.append(f'{pname}: no search box')
            if pname != 'index.html' and (res['imgs'] == 0 or res['imgs_ok'] < res['imgs']):
                errs.append(f'{pname}: {res["imgs_ok"]} of {res["imgs"]} images decoded')
            if res['math'] and res['katex'] < res['math']:
                errs.append(f'{pname}: {res["math"] - res["katex"]} of {res["math"]} equations not typeset by KaTeX')
            shot = shots/(Path(pname).stem + '.png')
            chromium(exe, ['--virtual-time-budget=5000', f'--screenshot={shot}', f'{base}/{pname}'])
            if not shot.exists(): errs.append(f'{pname}: no screenshot'); continue
            from PIL import Image
            ext = Image.open(shot).convert('L').getextrema()
            if ext[1] - ext[0] < 50: errs.append(f'{pname}: the screenshot is blank ({shot})')
            notes.append(f'{pname}: h1 {res["h1"]}, {len(res["sidebar"] or [])} sidebar links in {len(res["sections"] or [])} sections, {res["imgs_ok"]}/{res["imgs"]} images,'
                         f' {res["katex"]}/{res["math"]} equations typeset, {len(res["h2"])} sections; screenshot {shot} ({time.time()-t0:.1f}s)')
    finally: srv.shutdown()
    return errs, notes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--no-build', action='store_true', help='check the _docs/ already built')
    ap.add_argument('--no-browser', action='store_true', help='skip the headless Chromium checks')
    ap.add_argument('--screenshots', type=Path, help='folder for the screenshots (default: a temporary folder)')
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    t0 = time.time()
    if not args.no_build:
        r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py')])
        if r.returncode: sys.exit(f'check_docs: FAIL: tools/build_docs.py exited {r.returncode}')
    from nbdev.config import get_config
    docs = get_config().doc_path
    t1 = time.time()
    errs, info = static_checks(docs)
    errs += stale_generated()
    n = len(info.get('parsed', {}))
    log(f'{n} pages, links and assets checked ({time.time()-t1:.1f}s)')
    if not args.no_browser and info:
        shots = args.screenshots or Path(tempfile.mkdtemp(prefix='check_docs_shots_'))
        shots.mkdir(parents=True, exist_ok=True)
        t2 = time.time()
        berrs, notes = browser_checks(docs, info, shots)
        errs += berrs
        for nt in notes: log(nt)
        log(f'browser checks {time.time()-t2:.1f}s')
    if errs:
        for e in errs: print(f'check_docs: FAIL: {e}', file=sys.stderr)
        sys.exit(f'check_docs: {len(errs)} problem(s) in {docs.name}/')
    log(f'OK: {n} pages in {docs.name}/ ({time.time()-t0:.1f}s in all)')


if __name__ == '__main__': main()
