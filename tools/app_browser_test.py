"""Test the web app (`diffusion_nb_app`) end to end in headless Chromium.

    python tools/app_browser_test.py [--screenshot nbs/images/app_screenshot.png] [--chromium /usr/bin/chromium]
    python tools/app_browser_test.py --showcase flowers32-attention     # the README's screenshot, with a trained model

It makes a tiny untrained model (and a model folder that does not load) in a temporary folder, checks that a port in use
ends `diffusion_nb_app` with a one-line error, starts the server on a free loopback port, and drives the page with Playwright:
the bad model gives a message on the page, a tiny-model generation moves the progress bar to its end and fills the grid with
the requested number of tiles, the scrubber redraws the trajectory, the Download button saves the grid PNG; in the Edit tab
an uploaded file that is not a picture gets one red line, and the shipped example flower, inpainted in its centre, comes back
as a strip after the input with the pixels outside the mask unchanged; a second tab gets its own kernel, and no request
leaves 127.0.0.1. It saves a screenshot and stops the server, also on failure.
Every wait is on a condition with a generous timeout; durations are printed, never asserted.
"""
import argparse, base64, io, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
from urllib.parse import urlparse

LOCAL = {'127.0.0.1', 'localhost'}
N, STEPS, FRAMES, SEED, RES, NCOLS, PAD = 6, 10, 5, 3, 16, 4, 2    # the settings the test asks for, and the grid's layout
EDITS = 2                                                          # results of the one edit (the strip: input, kept, results)
SLOW = 300_000                                                     # ms: kernel start, torch import, sampling on a busy CPU

def log(*a): print('[app test]', *a, flush=True)

def make_models(d:Path):
    "A tiny untrained model saved with the library's own API, and a folder whose config does not load."
    import torch
    from diffusion_nb.schedules import NoiseSchedule
    from diffusion_nb.simple_unet import SimpleUNet
    from diffusion_nb.pretrained import save_pretrained
    torch.manual_seed(0)
    tiny = save_pretrained(d/'tiny-test', SimpleUNet(widths=(8, 16), time_dim=8), NoiseSchedule('linear', T=50), target='eps', resolution=RES)
    (d/'broken-model').mkdir(); (d/'broken-model'/'config.json').write_text('{"not": "a model config"}')
    return tiny, d/'broken-model'

def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def app_command() -> list:
    exe = Path(sys.executable).parent/'diffusion_nb_app'
    if not exe.exists(): exe = shutil.which('diffusion_nb_app')
    if not exe: sys.exit("diffusion_nb_app is not installed: pip install -e '.[dev]'")
    return [str(exe)]

def check_port_in_use(env):
    "`diffusion_nb_app --port <busy>` must exit non-zero at once with one line on stderr and no traceback."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); s.listen(); port = s.getsockname()[1]
        r = subprocess.run(app_command() + ['--port', str(port)], env=env, capture_output=True, text=True, timeout=300)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1 and 'already in use' in lines[0] and 'Traceback' not in r.stderr, (r.returncode, r.stderr)
    log(f"port in use: exit status {r.returncode}, stderr: {lines[0]}")

def wait_for_server(proc, url, logf, timeout=SLOW/1000):
    "Wait until the server answers on `url` (the page renders only when a browser runs its kernel, so ask for a static file)."
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise RuntimeError(f"the server exited with status {proc.returncode}:\n{Path(logf).read_text()}")
        try:
            with urllib.request.urlopen(url + 'voila/static/voila.js', timeout=5) as r:
                if r.status == 200: return time.time() - t0
        except OSError: time.sleep(0.5)
    raise TimeoutError(f"no answer from {url} after {timeout:.0f} s:\n{Path(logf).read_text()}")

def stop(proc):
    "SIGTERM (Voilà then shuts down every kernel), then SIGKILL the process group if it lingers."
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try: proc.wait(60)
        except subprocess.TimeoutExpired: pass
    try: os.killpg(proc.pid, signal.SIGKILL)    # the server's kernels, if any outlived it (its own session: only ours)
    except ProcessLookupError: pass
    proc.wait()

def grid_tiles(png:bytes, ncols:int=NCOLS):
    "Decode a grid PNG (ncols wide, tiles RES px + PAD px white padding, enlarged) into its tiles, row by row, and the enlargement."
    from PIL import Image
    import numpy as np
    a = np.asarray(Image.open(io.BytesIO(png)).convert('RGB'))
    s = a.shape[1] / (ncols*(RES+PAD) + PAD); rows = round((a.shape[0]/s - PAD) / (RES+PAD))
    assert s == int(s) and a.shape[0] == (rows*(RES+PAD) + PAD)*s, (a.shape, s)
    s = int(s)
    return [a[(PAD + r*(RES+PAD))*s:(PAD + r*(RES+PAD) + RES)*s, (PAD + c*(RES+PAD))*s:(PAD + c*(RES+PAD) + RES)*s]
            for r in range(rows) for c in range(ncols)], s

def count_tiles(png:bytes, ncols:int=NCOLS):
    "Decode a grid PNG and count its non-blank tiles; also its width, height and enlargement."
    tiles, s = grid_tiles(png, ncols)
    from PIL import Image
    w, h = Image.open(io.BytesIO(png)).size
    return sum(bool((t != 255).any()) for t in tiles), w, h, s

def shown_png(page, selector:str) -> bytes:
    "The PNG of the <img> at `selector`, as the browser decoded it."
    data = page.evaluate("""(sel) => { const i = document.querySelector(sel), c = document.createElement('canvas');
        c.width = i.naturalWidth; c.height = i.naturalHeight; c.getContext('2d').drawImage(i, 0, 0); return c.toDataURL('image/png'); }""", selector)
    return base64.b64decode(data.split(',', 1)[1])

def small_png(path:Path, limit=140_000):
    "Quantize the screenshot until it is under `limit` bytes."
    from PIL import Image
    for colors in (256, 128, 64, 32):
        if path.stat().st_size < limit: break
        Image.open(path).convert('RGB').quantize(colors).save(path, optimize=True)
    return path.stat().st_size

def drive(url, chromium, screenshot:Path, proc, showcase=None):
    from playwright.sync_api import sync_playwright
    external, seen = [], []
    def route(r):
        u = urlparse(r.request.url); seen.append(r.request.url)
        if u.scheme in ('http', 'https', 'ws', 'wss') and u.hostname not in LOCAL: external.append(r.request.url); return r.abort()
        return r.continue_()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'])
        try:
            ctx = browser.new_context(viewport={'width': 1000, 'height': 900}, accept_downloads=True)
            ctx.route('**/*', route)
            page = ctx.new_page()
            page.on('websocket', lambda ws: (urlparse(ws.url).hostname in LOCAL) or external.append(ws.url))
            page.on('pageerror', lambda e: log('page error:', e))
            return _drive(page, ctx, url, screenshot, proc, external, seen, showcase)
        finally: browser.close()

def _drive(page, ctx, url, screenshot, proc, external, seen, showcase):
    S = lambda name: f'.dnb-{name}'
    status = lambda: page.locator(S('status')).inner_text()
    t0 = time.time(); page.goto(url, timeout=SLOW)
    page.wait_for_selector(S('button'), state='visible', timeout=SLOW)
    page.wait_for_function("document.querySelector('.dnb-info') && document.querySelector('.dnb-info').innerText.includes(' px')", timeout=SLOW)
    t_load = time.time() - t0
    labels = page.locator(f"{S('model')} .widget-radio-box label").all_inner_texts()
    log(f"page loaded in {t_load:.1f} s; models: {labels}")
    assert {'tiny-test', 'broken-model'} <= set(labels), labels

    # a model folder that does not load: a red message on the page, and the server keeps running
    page.locator(f"{S('model')} label", has_text='broken-model').click()
    page.wait_for_function("document.querySelector('.dnb-status').innerHTML.includes('#c00') && document.querySelector('.dnb-status').innerText.includes('broken-model')", timeout=SLOW)
    log(f"bad model folder: {status()[:150]}")
    page.locator(f"{S('folder')} input").fill('/no/such/model-folder'); page.locator(S('load-button')).click()
    page.wait_for_function("document.querySelector('.dnb-status').innerText.includes('/no/such/model-folder')", timeout=SLOW)
    log(f"typed bad folder: {status()[:150]}")
    assert proc.poll() is None, "the server stopped after a bad model"

    # the tiny model and the settings
    page.locator(f"{S('model')} label", has_text='tiny-test').click()
    page.wait_for_function("document.querySelector('.dnb-info').innerText.includes('16 px') && !document.querySelector('.dnb-status').innerHTML.includes('#c00')", timeout=SLOW)
    for name, v in [('steps', STEPS), ('seed', SEED), ('n', N), ('frames', FRAMES)]:
        box = page.locator(f"{S(name)} input"); box.fill(str(v)); box.press('Tab')
    page.evaluate("""() => { window.dnbProgress = [];
        const el = document.querySelector('.dnb-progress');
        new MutationObserver(() => window.dnbProgress.push(el.querySelector('.widget-label').textContent))
            .observe(el, {subtree: true, childList: true, characterData: true, attributes: true}); }""")
    t0 = time.time(); page.locator(S('button')).click()
    page.wait_for_function(f"document.querySelector('.dnb-status').innerText.includes('{N} images')", timeout=SLOW)
    page.wait_for_function(f"document.querySelector('.dnb-progress .widget-label').textContent.trim() == '{STEPS} / {STEPS}'", timeout=SLOW)
    page.wait_for_function("(() => { const i = document.querySelector('img.dnb-grid'); return i && i.complete && i.naturalWidth > 0; })()", timeout=SLOW)
    t_gen = time.time() - t0
    progress = list(dict.fromkeys(page.evaluate('window.dnbProgress')))
    log(f"generated in {t_gen:.1f} s: {status()}")
    log(f"progress bar labels seen: {progress}")
    inner = [p for p in progress if p.split(' / ')[0].strip().isdigit() and 0 < int(p.split(' / ')[0]) < STEPS]
    assert inner, f"the progress bar never showed a step between 0 and {STEPS}: {progress}"
    assert f'{N} images' in status() and f'{STEPS} steps' in status() and f'seed {SEED}' in status(), status()

    # the grid as the browser decoded it
    shown = shown_png(page, 'img.dnb-grid')
    tiles, w, h, scale = count_tiles(shown)
    log(f"grid decoded in the browser: {w}x{h} px, {scale}x enlarged, {tiles} tiles")
    assert tiles == N, (tiles, N)

    # the scrubber: it starts on the last frame; Home moves it to the first, which redraws the pictures
    label = page.locator(S('frame-label')).inner_text(); xt = page.locator('img.dnb-xt-view').get_attribute('src')
    assert f'frame {FRAMES} of {FRAMES}' in label, label
    handle = page.locator(f"{S('scrubber')} .noUi-handle"); handle.focus(); handle.press('Home')
    page.wait_for_function("document.querySelector('.dnb-frame-label').innerText.includes('frame 1 of')", timeout=SLOW)
    page.wait_for_function(f"document.querySelector('img.dnb-xt-view').src != {json.dumps(xt)}", timeout=SLOW)
    log(f"scrubber moved: {page.locator(S('frame-label')).inner_text()[:60]}")

    # Download: the saved file is the grid
    with page.expect_download(timeout=SLOW) as dl: page.locator(f"{S('download')} a").click()
    saved = Path(dl.value.path()).read_bytes()
    from PIL import Image
    import numpy as np
    same = np.array_equal(np.asarray(Image.open(io.BytesIO(saved)).convert('RGB')), np.asarray(Image.open(io.BytesIO(shown)).convert('RGB')))
    log(f"download: {dl.value.suggested_filename}, {len(saved):,} bytes, same pixels as the grid: {same}")
    assert same and dl.value.suggested_filename == f'tiny-test-ddim-seed{SEED}.png', dl.value.suggested_filename

    t_edit = _edit(page, status)

    # a second tab: its own kernel, its own (empty) results and settings
    page2 = ctx.new_page(); t0 = time.time(); page2.goto(url, timeout=SLOW)
    page2.wait_for_selector(S('button'), state='visible', timeout=SLOW)
    kid = "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    k1, k2 = page.evaluate(kid), page2.evaluate(kid)
    empty = page2.evaluate("(() => { const i = document.querySelector('img.dnb-grid'); return !i || i.naturalWidth == 0; })()")
    seed2 = page2.locator(f"{S('seed')} input").input_value()
    log(f"second tab in {time.time()-t0:.1f} s: kernels {k1[:8]}… and {k2[:8]}…, its grid empty: {empty}, its seed: {seed2}")
    assert k1 and k2 and k1 != k2 and empty and seed2 == '0', (k1, k2, empty, seed2)
    page2.close()

    if showcase: _showcase(page, showcase)
    # the screenshot: the whole app (Voilà scrolls an inner element, so make the window as tall as the page instead)
    h = page.evaluate("Math.ceil(document.querySelector('.dnb-app').getBoundingClientRect().bottom + 24)")
    page.set_viewport_size({'width': 1000, 'height': max(h, 400)})
    screenshot.parent.mkdir(parents=True, exist_ok=True); page.screenshot(path=str(screenshot))
    size = small_png(screenshot)
    log(f"screenshot: {screenshot} ({size/1000:.0f} KB)")
    assert not external, f"requests left the machine: {external}"
    log(f"{len(seen)} requests, all to 127.0.0.1")
    return dict(load_s=t_load, generate_s=t_gen, edit_s=t_edit, tiles=tiles, screenshot=str(screenshot))

def _edit(page, status):
    "The Edit tab: a file that is not a picture, then the example flower inpainted in its centre; back to Generate. Returns the edit's seconds."
    import numpy as np
    S = lambda name: f'.dnb-{name}'
    page.locator('.dnb-tabs .lm-TabBar-tab', has_text='Edit').click()
    page.wait_for_selector(S('edit-button'), state='visible', timeout=SLOW)
    page.wait_for_selector('img.dnb-grid', state='hidden', timeout=SLOW)               # the Generate tab's results give way
    page.wait_for_function("document.querySelector('.dnb-edit-caption').innerText.includes('input')", timeout=SLOW)
    with page.expect_file_chooser(timeout=SLOW) as chooser: page.locator(S('upload')).click()   # its <input> is not in the page
    chooser.value.set_files({'name': 'notes.txt', 'mimeType': 'text/plain', 'buffer': b'not a picture'})
    page.wait_for_function("document.querySelector('.dnb-status').innerHTML.includes('#c00') && document.querySelector('.dnb-status').innerText.includes('notes.txt')", timeout=SLOW)
    msg = status().strip()
    log(f"upload that is not a picture: {msg}")
    assert 'is not a picture' in msg and '\n' not in msg and 'Traceback' not in msg, msg

    page.locator(f"{S('picture')} select").select_option(label='example: flower')
    page.locator(f"{S('edit-kind')} button", has_text='Inpaint').click()
    page.locator(f"{S('mask')} select").select_option(label='center')
    box = page.locator(f"{S('edit-n')} input"); box.fill(str(EDITS)); box.press('Tab')
    width = ((2 + EDITS)*(RES+PAD) + PAD) * (64 // RES)                                 # input, kept, results; 4x enlarged
    t0 = time.time(); page.locator(S('edit-button')).click()
    page.wait_for_function(f"document.querySelector('.dnb-status').innerText.includes('{EDITS} results')", timeout=SLOW)
    page.wait_for_function(f"(() => {{ const i = document.querySelector('img.dnb-edit-grid'); return i && i.complete && i.naturalWidth == {width}; }})()", timeout=SLOW)
    t_edit = time.time() - t0
    log(f"edited in {t_edit:.1f} s: {status()}")
    assert 'RePaint' in status() and f'seed {SEED}' in status() and '#c00' not in page.locator(S('status')).inner_html(), status()
    caption = page.locator(S('edit-caption')).inner_text()
    assert caption == f'input | kept (grey: to fill) | {EDITS} results', caption

    # the strip as the browser decoded it: the input, what is kept, the results; outside the centre mask, the input's pixels
    shown = shown_png(page, 'img.dnb-edit-grid')
    n, w, h, s = count_tiles(shown, 2 + EDITS)
    tiles, _ = grid_tiles(shown, 2 + EDITS)
    keep = np.ones(tiles[0].shape[:2], bool); q = RES//4*s; keep[q:RES*s-q, q:RES*s-q] = False
    kept = [bool((t[keep] == tiles[0][keep]).all()) for t in tiles[1:]]
    painted = [not (t[~keep] == tiles[0][~keep]).all() for t in tiles[2:]]
    log(f"edit strip decoded in the browser: {w}x{h} px, {n} tiles; outside the mask same as the input: {kept}; centre painted: {painted}")
    assert n == 2 + EDITS and len(tiles) == 2 + EDITS and all(kept) and all(painted), (n, kept, painted)
    assert page.locator(f"{S('edit-download')} a").get_attribute('download') == f'tiny-test-inpaint-center-seed{SEED}.png'

    page.locator('.dnb-tabs .lm-TabBar-tab', has_text='Generate').click()               # back: the grid is there again
    page.wait_for_selector('img.dnb-grid', state='visible', timeout=SLOW)
    page.wait_for_selector('img.dnb-edit-grid', state='hidden', timeout=SLOW)
    return t_edit

def _showcase(page, model, n=8, steps=20, frames=10):
    "For the README's screenshot: generate with a shipped (trained) model, and show a frame halfway through the trajectory."
    page.locator(".dnb-model .widget-radio-box label", has_text=model).click()
    page.wait_for_function(f"document.querySelector('.dnb-info').innerText.includes('px') && !document.querySelector('.dnb-status').innerHTML.includes('#c00')", timeout=SLOW)
    for name, v in [('steps', steps), ('seed', 0), ('n', n), ('frames', frames)]:
        box = page.locator(f".dnb-{name} input"); box.fill(str(v)); box.press('Tab')
    page.locator('.dnb-folder input').fill('')
    t0 = time.time(); page.locator('.dnb-button').click()
    page.wait_for_function(f"document.querySelector('.dnb-status').innerText.includes('{n} images') && document.querySelector('.dnb-frame-label').innerText.includes('frame {frames} of')", timeout=SLOW)
    handle = page.locator(".dnb-scrubber .noUi-handle"); handle.focus(); handle.press('Home')
    for _ in range(frames//2 - 1): handle.press('ArrowRight')
    page.wait_for_function(f"document.querySelector('.dnb-frame-label').innerText.includes('frame {frames//2} of')", timeout=SLOW)
    log(f"showcase: {model}, {time.time()-t0:.1f} s: {page.locator('.dnb-status').inner_text()}")

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--screenshot', default='nbs/images/app_screenshot.png', help='where to save the screenshot (PNG, < 150 KB)')
    p.add_argument('--showcase', default=None, metavar='MODEL',
                   help="before the screenshot, generate with this shipped model (e.g. flowers32-attention): for the README's picture")
    p.add_argument('--chromium', default=os.environ.get('CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser') or '/usr/bin/chromium')
    a = p.parse_args(argv)
    env = {**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1'), 'HF_HUB_OFFLINE': '1', 'PYTHONUNBUFFERED': '1'}
    check_port_in_use(env)
    with tempfile.TemporaryDirectory(prefix='dnb-app-test-') as d:
        d = Path(d); tiny, broken = make_models(d)
        port = free_port(); url = f'http://127.0.0.1:{port}/'; logf = d/'server.log'
        with open(logf, 'w') as out:
            proc = subprocess.Popen(app_command() + ['--port', str(port), tiny.name, broken.name], cwd=d, env=env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            log(f"server up in {wait_for_server(proc, url, logf):.1f} s at {url}")
            res = drive(url, a.chromium, Path(a.screenshot).resolve(), proc, a.showcase)
            assert proc.poll() is None, "the server stopped"
        except BaseException:
            log('server log:\n' + logf.read_text()[-4000:]); raise
        finally: stop(proc)
        log(f"server stopped (exit status {proc.returncode})")
    log(f"passed: page loaded in {res['load_s']:.1f} s, generated in {res['generate_s']:.1f} s, {res['tiles']} tiles, "
        f"edited in {res['edit_s']:.1f} s, screenshot {res['screenshot']}")

if __name__ == '__main__': main()
