"""The interactive HTML view in a real browser: headless Chromium driven by Playwright.

Skipped, saying why, where Playwright or a Chromium is missing. CI installs both
(.ci/run: `pip install playwright` and Debian's chromium-headless-shell); elsewhere
`pip install playwright` and `apt-get install chromium-headless-shell` (or
`python -m playwright install chromium`), or set GRAPHC_BROWSER to a Chromium binary.
"""
import io
import os
import shutil

import pytest

from test_viz_html import trained_mlp

import graphc as gc

playwright = pytest.importorskip("playwright.sync_api",
                                 reason="the browser test needs `pip install playwright`")

CHROMIUMS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """A Chromium binary: GRAPHC_BROWSER, one on PATH, or None (Playwright's own, if
    `python -m playwright install chromium` put one there)."""
    if os.environ.get("GRAPHC_BROWSER"):
        return os.environ["GRAPHC_BROWSER"]
    return next((shutil.which(name) for name in CHROMIUMS if shutil.which(name)), None)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=chromium_path(), headless=True)
        except Exception as err:                # no browser: skip, saying how to get one
            pytest.skip(f"no Chromium to drive ({str(err).splitlines()[0]}); "
                        "apt-get install chromium-headless-shell or "
                        "python -m playwright install chromium")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def flow_page(tmp_path_factory):
    m, history = trained_mlp()
    path = tmp_path_factory.mktemp("html") / "step.html"
    return gc.viz.render([m.loss, m.train_op], path, history=history, title="mlp")


def open_page(browser, path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"network: {r.url}")
            if not r.url.startswith(("file:", "data:", "about:")) else None)
    page.goto(path.as_uri())
    page.wait_for_selector("#stage g.node")
    return page, errors


def click_box(page, title: str) -> None:
    """Click the SVG box whose DOT name is `title`, as a user would (mouse down and up)."""
    box = page.evaluate("""title => {
        for (const g of document.querySelectorAll('#stage g.node')) {
            if (g.querySelector(':scope > title').textContent === title) {
                const r = g.getBoundingClientRect();
                return {x: r.left + r.width / 2, y: r.top + r.height / 2};
            }
        }
        return null; }""", title)
    assert box is not None, f"no box {title} on the page"
    page.mouse.click(box["x"], box["y"])


def key_of(page, name: str) -> str:
    """The DOT name of the box titled `name` in the picture shown."""
    return page.evaluate("""name => {
        const p = DATA.pictures[view.picture];
        return Object.keys(p.items).find(k => p.items[k].title === name); }""", name)


def test_the_page_loads_and_a_click_shows_a_nodes_details(browser, flow_page):
    page, errors = open_page(browser, flow_page)
    page.click("#tabs button:text-is('everything')")
    grad = page.evaluate("""() => {
        const p = DATA.pictures[view.picture];
        return Object.keys(p.items).find(k => p.items[k].rows.some(
            r => r[0] === 'forward node' && r[1] === 'dense_2/matmul')); }""")
    click_box(page, grad)
    details = page.inner_text("#details")
    assert "forward node" in details and "dense_2/matmul" in details
    assert "test_viz_html.py:" in details and "float32" in details
    assert errors == []
    page.close()


def test_a_folder_box_opens_at_the_next_level(browser, flow_page):
    page, errors = open_page(browser, flow_page)
    page.click("#tabs button:text-is('overview')")
    click_box(page, key_of(page, "Momentum/"))
    page.click("#open")
    active = page.inner_text("#tabs button.active")
    assert active == "default"
    assert page.evaluate("document.querySelector('#stage g.cluster.selected') !== null")
    page.click("#collapse")
    assert page.inner_text("#tabs button.active") == "overview"
    assert errors == []
    page.close()


def test_the_slider_replays_the_recorded_gradient_norms(browser, flow_page):
    page, errors = open_page(browser, flow_page)
    page.click("#tabs button:text-is('gradient flow')")
    assert page.is_visible("#slider")
    edge_text = """() => { const t = DATA.pictures[view.picture].flow.tensors[0];
        for (const g of document.querySelectorAll('#stage g.edge'))
            if (g.querySelector('title').textContent === t.node + '->' + t.grad)
                return [g.querySelector('text').textContent, t.edge]; }"""
    shown, labels = page.evaluate(edge_text)
    assert shown == labels[-1]                       # starts at the last recorded step
    page.fill("#slider", "0")
    page.dispatch_event("#slider", "input")
    shown, labels = page.evaluate(edge_text)
    assert shown == labels[0]
    assert page.inner_text("#step").startswith("1 (1 of 3)")
    assert errors == []
    page.close()


def test_a_screenshot_is_not_blank(browser, flow_page):
    image = pytest.importorskip("PIL.Image", reason="the screenshot check needs Pillow")
    page, errors = open_page(browser, flow_page)
    shot = image.open(io.BytesIO(page.screenshot())).convert("RGB")
    canvas = shot.crop((0, 60, 900, 780))            # the picture, not the panel
    colours = canvas.getcolors(maxcolors=1 << 20)
    inked = sum(n for n, c in colours if c != (255, 255, 255))
    assert len(colours) > 50 and inked > 0.05 * canvas.width * canvas.height
    assert errors == []
    page.close()
