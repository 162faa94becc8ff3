"""Execute a notebook in place and save its outputs, skipping `#| eval: false` cells except those asked for.

    python tools/run_notebook.py nbs/08_evaluation.ipynb --run-marked "final table"

Heavy cells are `#| eval: false` so that the tests skip them; their saved outputs come from running them once. This runs
every other cell in order (so the heavy cell sees the notebook's state, as in Jupyter), plus each `#| eval: false` cell
whose source contains one of the --run-marked strings, and writes all outputs back. Then run `nbdev_clean` on the file.
With --save-only, every cell still runs but only the outputs of cells containing one of those strings are replaced
(the others keep their saved outputs: e.g. timings measured on a quiet machine).
"""
import argparse, re
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

EVAL_FALSE = re.compile(r'^#\|\s*eval:\s*false\s*$', re.M)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('path'); p.add_argument('--run-marked', nargs='*', default=[], help='run eval:false cells containing these strings')
    p.add_argument('--save-only', nargs='*', default=None, help='replace only the outputs of cells containing these strings')
    a = p.parse_args(argv)
    nb = read_nb(a.path)
    saved = [(c.get('outputs'), c.get('execution_count')) for c in nb.cells]
    def skip(cell):
        if cell.cell_type != 'code': return True
        if EVAL_FALSE.search(cell.source) and not any(m in cell.source for m in a.run_marked): return True
        print(f"running: {cell.source.splitlines()[0][:100] if cell.source else ''}", flush=True)  # where a long run is
        return False
    sh = CaptureShell(a.path, mpl_format='png')  # 1x PNGs: execnb's default, retina, doubles each plot's size
    sh.run_all(nb, exc_stop=True, preproc=skip)  # not verbose: printed output is captured and saved with the cell
    if a.save_only is not None:
        for c, (outs, n) in zip(nb.cells, saved):
            if c.cell_type == 'code' and not any(m in c.source for m in a.save_only): c['outputs'], c['execution_count'] = outs, n
    write_nb(nb, a.path)
    print(f"ran and saved {a.path}")

if __name__ == '__main__': main()
