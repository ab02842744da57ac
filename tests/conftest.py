import numpy as np
import pytest

import graphc as gc


@pytest.fixture
def graph():
    """A fresh graph, entered as the default for the test's duration."""
    g = gc.Graph()
    with g.as_default():
        yield g


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
