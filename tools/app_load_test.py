"""Load-test the web app (`diffusion_nb_app`) on 127.0.0.1: bounded sessions and memory, released sessions, generation in turn.

    python tools/app_load_test.py [--chromium /usr/bin/chromium] [--sessions 3] [--sequential 6] [--concurrent 4] [--browsers 2]
    python tools/app_load_test.py --measure-only     # the same visits and figures, no limits asked for and nothing asserted:
                                                     # for an older diffusion_nb_app (PYTHONPATH=<its checkout>)

It makes a tiny untrained model in a temporary folder and starts the server on a free loopback port with a small cap
(`--max-sessions 3`), one generation at a time (`--parallel 1`) and short release times, then:

1. `--sequential` page requests one after the other, then `--concurrent` at once, as plain HTTP GETs (each one makes Voilà
   start and run a kernel; none opens the page's connection afterwards, like `curl` in a loop or a tab that died). Every
   request must get the page or the busy page (HTTP 503), live kernels must never exceed the cap, and the server's memory
   (PSS summed over its process tree, sampled every second) must stay under start + cap x 800 MB.
2. After each burst, the kernels must all be released within the release time plus the culling interval, and the memory
   must come back to within 150 MB of its start.
3. Headless Chromium (Playwright): one page loads and generates alone; then `--browsers` more load at once and press
   Generate at the same moment while the test holds the server's one generation slot with a ticket of its own (so the
   check does not depend on timing): all wait, the k-th with k ahead, then, the slot released, they run one at a time,
   each progress bar counting down, and all finish saying in their status line that they waited. Then the first visitor leaves the page and the browser vanishes without a word;
   their kernels must be released (by culling, if the page's own goodbye did not arrive) and memory must come back.

It prints MB per session, page-load and generate times at 1 and K visitors, and the memory after the visitors leave; it
stops the server, also on failure. Every wait has a generous timeout; times are printed, never asserted.
"""
import argparse, asyncio, os, shutil, sys, tempfile, threading, time, urllib.error, urllib.request, subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from app_browser_test import make_models, free_port, app_command, wait_for_server, stop   # noqa: E402

MB = 2**20
SLOW = 300                    # s: the most one page request, kernel start or generation may take on a busy 2-core machine
PER_SESSION = 800 * MB        # generous bound on one session's memory (measured: about 300-450 MB with a tiny model)
NEAR_START = 150 * MB         # "back near the start"

def log(*a): print('[load test]', *a, flush=True)

class Tree:
    "The server's process tree: its kernels and its memory (PSS, which splits shared pages among the processes using them)."
    def __init__(self, pid):
        import psutil
        self.psutil, self.root = psutil, psutil.Process(pid)
        self.peak_kernels, self.peak_pss, self._stop = 0, 0, threading.Event()
    def procs(self):
        try: return [self.root] + self.root.children(recursive=True)
        except self.psutil.NoSuchProcess: return []
    def kernels(self) -> int:
        "Kernel processes: an ipykernel whose parent is not one (a kernel's fork, e.g. a subprocess between fork and exec, shows its parent's command line)."
        def is_kernel(p):
            try: return any('ipykernel' in a for a in p.cmdline())
            except self.psutil.Error: return False
        n = 0
        for p in self.procs()[1:]:
            try: parent = p.parent()
            except self.psutil.Error: continue
            n += is_kernel(p) and not (parent and is_kernel(parent))
        return n
    def pss(self) -> int:
        tot = 0
        for p in self.procs():
            try: tot += p.memory_full_info().pss
            except self.psutil.Error: pass
        return tot
    def _watch(self):
        while not self._stop.wait(1.0):
            self.peak_kernels = max(self.peak_kernels, self.kernels()); self.peak_pss = max(self.peak_pss, self.pss())
    def watch(self):
        "Sample kernels and memory every second in the background; `reset` starts a new peak."
        threading.Thread(target=self._watch, daemon=True).start(); return self
    def reset(self): self.peak_kernels, self.peak_pss = self.kernels(), self.pss()
    def close(self): self._stop.set()

def get_page(url):
    "One page request: ('page' | 'busy' | 'other', seconds, HTTP status)."
    t0 = time.time()
    try:
        with urllib.request.urlopen(url, timeout=SLOW) as r: status, body = r.status, r.read().decode('utf-8', 'replace')
    except urllib.error.HTTPError as e: status, body = e.code, e.read().decode('utf-8', 'replace')
    kind = ('page' if status == 200 and 'application/vnd.jupyter.widget-view+json' in body else
            'busy' if status == 503 and 'dnb-busy' in body else 'other')
    return kind, time.time() - t0, status

def wait_released(tree, start_pss, timeout, measure_only):
    "Wait until no kernel is left (or `timeout` s); return (seconds, kernels left, PSS)."
    t0 = time.time()
    while time.time() - t0 < timeout:
        if tree.kernels() == 0 and not measure_only: break
        time.sleep(1)
    time.sleep(2)                                                       # let the server free what the kernels left behind
    return time.time() - t0, tree.kernels(), tree.pss()

def burst(url, n, workers, tree, a, label, res):
    "`n` page requests, `workers` at a time; check the answers, the peak kernels and memory; then wait for the release."
    tree.reset(); start = tree.pss()
    with ThreadPoolExecutor(workers) as ex: answers = list(ex.map(lambda _: get_page(url), range(n)))
    kinds = [k for k, _, _ in answers]; pages = [t for k, t, _ in answers if k == 'page']
    kernels_now, pss_now = tree.kernels(), tree.pss()
    peak_k, peak_pss = max(tree.peak_kernels, kernels_now), max(tree.peak_pss, pss_now)
    log(f"{label}: {n} requests, {workers} at a time: {kinds.count('page')} pages, {kinds.count('busy')} busy, "
        f"{kinds.count('other')} other; page {min(pages, default=0):.1f}-{max(pages, default=0):.1f} s, busy page "
        f"{max([t for k, t, _ in answers if k == 'busy'], default=0):.2f} s at most; peak {peak_k} kernels, "
        f"memory {start/MB:.0f} -> peak {peak_pss/MB:.0f} MB")
    if kernels_now: log(f"{label}: {(pss_now - res['start'])/MB/kernels_now:.0f} MB per session ({kernels_now} sessions)")
    res.setdefault('page_s', []).extend(pages); res.setdefault('per_session', []).append((pss_now - res['start'])/max(kernels_now, 1)/MB)
    if not a.measure_only:
        assert 'other' not in kinds, f"a request got neither the page nor the busy page: {answers}"
        assert peak_k <= a.sessions, f"{peak_k} kernels at once, more than the cap {a.sessions}"
        assert peak_pss <= res['start'] + a.sessions*PER_SESSION, f"memory peaked at {peak_pss/MB:.0f} MB"
        assert kinds.count('page') >= min(n, a.sessions), f"only {kinds.count('page')} pages for {n} requests with a cap of {a.sessions}"
    t, left, pss = wait_released(tree, start, 60 if a.measure_only else a.release_after + 60, a.measure_only)
    log(f"{label}: {'released' if not left else f'{left} kernels still there'} {t:.0f} s after the requests ended; memory "
        f"{pss/MB:.0f} MB (start {res['start']/MB:.0f} MB)")
    res.setdefault('after_mb', []).append(pss/MB)
    if not a.measure_only:
        assert left == 0, f"{left} kernels left {t:.0f} s after the visitors"
        assert pss <= res['start'] + NEAR_START, f"memory {pss/MB:.0f} MB, not back near its start {res['start']/MB:.0f} MB"
    return kinds

async def browsers(url, a, tree, res, queue=None):
    """K pages at once: load, generate alone, generate at the same moment (behind a held slot of `queue`, the server's
    queue folder, when given); then leave (one closes, the rest vanish)."""
    from playwright.async_api import async_playwright
    S = lambda name: f'.dnb-{name}'
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=a.chromium, args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'])
        ctx = await browser.new_context(viewport={'width': 1000, 'height': 900})
        pages = [await ctx.new_page() for _ in range(a.browsers + 1)]      # one alone, then K at once
        async def load(p):
            t0 = time.time(); await p.goto(url, timeout=SLOW*1000)
            await p.wait_for_selector(S('button'), state='visible', timeout=SLOW*1000)
            await p.locator(f"{S('model')} label", has_text='tiny-test').click()
            await p.wait_for_function("document.querySelector('.dnb-info').innerText.includes('16 px')", timeout=SLOW*1000)
            for name, v in [('steps', a.steps), ('n', a.images), ('frames', 2)]:
                box = p.locator(f"{S(name)} input"); await box.fill(str(v)); await box.press('Tab')
            await p.evaluate("""() => { window.dnbProgress = []; const el = document.querySelector('.dnb-progress');
                new MutationObserver(() => window.dnbProgress.push(el.querySelector('.widget-label').textContent))
                    .observe(el, {subtree: true, childList: true, characterData: true, attributes: true}); }""")
            return time.time() - t0
        done = (f"window.dnbProgress.includes('{a.steps} / {a.steps}') && !document.querySelector('button.dnb-button').disabled"
                f" && document.querySelector('.dnb-status').innerText.includes('{a.images} images')")
        async def generate(p):
            await p.evaluate('window.dnbProgress.splice(0)'); t0 = time.time()
            await p.locator(S('button')).click()
            await p.wait_for_function(done, timeout=SLOW*1000)
            return time.time() - t0, await p.locator(S('status')).inner_text(), await p.evaluate('window.dnbProgress.splice(0)')
        t_load1 = await load(pages[0])
        t1, st1, _ = await generate(pages[0])
        log(f"browsers: one visitor: page loaded in {t_load1:.1f} s, generated in {t1:.1f} s: {st1}")
        loads = await asyncio.gather(*[load(p) for p in pages[1:]])
        log(f"browsers: {a.browsers} visitors at once: pages loaded in {', '.join(f'{t:.1f}' for t in loads)} s; "
            f"{tree.kernels()} kernels, {tree.pss()/MB:.0f} MB")
        if queue is None: together = await asyncio.gather(*[generate(p) for p in pages[1:]])
        else:   # hold the one slot with a ticket of our own, so both clicks are sure to queue; then let them go in turn
            hold = queue/f"{time.time_ns():020d}-{os.getpid()}-loadtest.ticket"; hold.touch()
            try:
                gens = [asyncio.ensure_future(generate(p)) for p in pages[1:]]
                t0 = time.time()
                while time.time() - t0 < SLOW and not all(await asyncio.gather(*[p.evaluate(
                        "window.dnbProgress.some(l => l.startsWith('waiting'))") for p in pages[1:]])): await asyncio.sleep(0.2)
            finally: hold.unlink(missing_ok=True)
            together = await asyncio.gather(*gens)
        for k, (t, st, prog) in enumerate(together):
            log(f"browsers: visitor {k+1} of {a.browsers} at once: {t:.1f} s: {st}; progress bar: {list(dict.fromkeys(prog))[:4]}...")
        waited = [k for k, (_, _, prog) in enumerate(together) if any(l.startswith('waiting') for l in prog)]
        kernels, pss = tree.kernels(), tree.pss()
        log(f"browsers: {(pss - res['start'])/MB/max(kernels, 1):.0f} MB per session after generating ({kernels} sessions, {pss/MB:.0f} MB)")
        res['per_session_generated'] = (pss - res['start'])/MB/max(kernels, 1)
        res.update(load1=t_load1, loadK=max(loads), gen1=t1, genK=max(t for t, _, _ in together))
        if not a.measure_only:
            assert len(waited) == a.browsers, f"with the slot held, all {a.browsers} visitors should have waited: {waited}"
            assert all('waiting for a free generator' in st for _, st, _ in together), together
            counts = [[int(l.split()[1]) for l in dict.fromkeys(prog) if l.startswith('waiting')] for _, _, prog in together]
            assert sorted(c[0] for c in counts) == list(range(1, a.browsers + 1)), counts   # each behind the hold and those before it
            assert all(c == sorted(c, reverse=True) for c in counts), counts                 # and moved up as they finished, in turn
        kernels, t0 = tree.kernels(), time.time()
        await pages[0].goto('about:blank')                               # a visitor leaves: the page may tell the server
        while tree.kernels() >= kernels and time.time() - t0 < 15: await asyncio.sleep(0.5)
        log(f"browsers: one visitor left the page: {kernels} -> {tree.kernels()} kernels after {time.time()-t0:.1f} s "
            "(Voila's page asks the server to end its kernel as it unloads; culling ends it otherwise)")
        await browser.close()                                            # the others vanish without a word

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--chromium', default=os.environ.get('CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser') or '/usr/bin/chromium')
    p.add_argument('--sessions', type=int, default=3, help='the cap given to the server (--max-sessions)')
    p.add_argument('--sequential', type=int, default=6, help='page requests one after the other')
    p.add_argument('--concurrent', type=int, default=4, help='page requests at once')
    p.add_argument('--browsers', type=int, default=2, help='browser pages that generate at once')
    p.add_argument('--steps', type=int, default=50, help='DDIM steps per generation (at most 50: the test model has T = 50)')
    p.add_argument('--images', type=int, default=64, help='images per generation (16 px; 64 with 50 steps: about a second of one core)')
    p.add_argument('--release-after', type=int, default=15, help="the server's --release-after (s)")
    p.add_argument('--measure-only', action='store_true', help='start the server with no limits, assert nothing: for an older version')
    a = p.parse_args(argv)
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONUNBUFFERED': '1'}
    t_all = time.time()
    with tempfile.TemporaryDirectory(prefix='dnb-app-load-') as d:
        d = Path(d); tiny, _ = make_models(d)
        port = free_port(); url = f'http://127.0.0.1:{port}/'; logf = d/'server.log'
        limits = [] if a.measure_only else ['--max-sessions', str(a.sessions), '--parallel', '1', '--release-after', str(a.release_after)]
        (d/'tmp').mkdir()                                                # the server's temporary folders, its queue among them
        with open(logf, 'w') as out:
            proc = subprocess.Popen(app_command() + ['--port', str(port), tiny.name] + limits, cwd=d, env={**env, 'TMPDIR': str(d/'tmp')},
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        tree = None
        try:
            log(f"server up in {wait_for_server(proc, url, logf):.1f} s: {logf.read_text().strip().splitlines()[0]}")
            time.sleep(2); tree = Tree(proc.pid).watch(); res = {'start': tree.pss()}
            log(f"start: {tree.kernels()} kernels, {res['start']/MB:.0f} MB")
            burst(url, a.sequential, 1, tree, a, 'sequential', res)
            burst(url, a.concurrent, a.concurrent, tree, a, 'concurrent', res)
            queue = None if a.measure_only else next((d/'tmp').glob('diffusion_nb_app-*/queue'), None)
            assert a.measure_only or queue is not None, "the server's queue folder was not found"
            tree.reset(); asyncio.run(browsers(url, a, tree, res, queue))
            if not a.measure_only: assert tree.peak_kernels <= a.sessions, tree.peak_kernels
            t, left, pss = wait_released(tree, res['start'], 60 if a.measure_only else a.release_after + 60, a.measure_only)
            log(f"browsers gone: {'released' if not left else f'{left} kernels still there'} {t:.0f} s later; memory {pss/MB:.0f} MB")
            if not a.measure_only:
                assert left == 0 and pss <= res['start'] + NEAR_START, (left, pss/MB)
            assert proc.poll() is None, "the server stopped"
        except BaseException:
            log('server log:\n' + logf.read_text()[-4000:]); raise
        finally:
            if tree: tree.close()
            stop(proc)
    log(f"passed in {time.time()-t_all:.0f} s: {max(res['per_session']):.0f} MB per session with the page open, "
        f"{res['per_session_generated']:.0f} MB after generating; cap {a.sessions if not a.measure_only else 'none'}; "
        f"page load {res['load1']:.1f} s alone, {res['loadK']:.1f} s with {a.browsers} at once; generate {res['gen1']:.1f} s alone, "
        f"{res['genK']:.1f} s with {a.browsers} at once; memory start {res['start']/MB:.0f} MB, after the visitors left "
        f"{', '.join(f'{m:.0f}' for m in res['after_mb'] + [pss/MB])} MB")

if __name__ == '__main__': main()
