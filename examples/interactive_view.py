"""The interactive HTML view: train a small MLP with its gradient norms recorded, write
one self-contained page, and (with Playwright and a Chromium) its screenshot for the
README, docs/img/interactive_view.png.

    python examples/interactive_view.py [--out graph.html] [--screenshot PNG]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import graphc as gc  # noqa: E402
from graphc import models  # noqa: E402


def train_recorded(steps_between=4):
    """A 784-256-256-10 MLP, 3 epochs on random digits-shaped data, norms every k steps."""
    m = models.mlp(lr=0.05)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    y = rng.integers(0, 10, 256).astype(np.int32)
    sess = gc.Session(m.graph)
    history = gc.train.fit(sess, m.train_op, m.loss, (m.x, m.y), (x, y), epochs=3,
                           batch_size=32, progress=False, log=None,
                           record_gradients=steps_between)
    return m, history


def screenshot(page_path: Path, png: Path) -> None:
    """The page's gradient-flow tab with a variable clicked, as a compact PNG."""
    from playwright.sync_api import sync_playwright
    sys.path.insert(0, str(HERE.parent / "tests"))
    from test_viz_browser import chromium_path
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True)
        page = browser.new_page(viewport={"width": 1360, "height": 820})
        page.goto(page_path.resolve().as_uri())
        page.click("#tabs button:text-is('gradient flow')")
        page.fill("#slider", "1")
        page.dispatch_event("#slider", "input")
        key = page.evaluate("DATA.pictures[view.picture].flow.tensors[0].node")
        page.evaluate("""key => { for (const g of document.querySelectorAll('#stage g.node'))
            if (g.querySelector('title').textContent === key) {
                const r = g.getBoundingClientRect();
                window.__box = [r.left + r.width / 2, r.top + r.height / 2]; } }""", key)
        x, y = page.evaluate("window.__box")
        page.mouse.click(x, y)
        page.screenshot(path=str(png))
        browser.close()
    from render_lecture_graphs import compact_png
    compact_png(png)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="graph.html")
    parser.add_argument("--screenshot", default=None, metavar="PNG")
    args = parser.parse_args(argv)
    m, history = train_recorded()
    path = gc.viz.render([m.loss, m.train_op], args.out, history=history,
                         title="784-256-256-10 MLP: one train step, momentum SGD")
    print(f"wrote {path}: open it in a browser (recorded steps {history.gradients.steps})")
    if args.screenshot:
        sys.path.insert(0, str(HERE))
        screenshot(Path(path), Path(args.screenshot))
        print(f"wrote {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
