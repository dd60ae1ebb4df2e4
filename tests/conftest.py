import copy
import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

REF = Path(__file__).parent / "reference"
DATA = Path(__file__).parent / "data"


def load_reference(name):
    with open(REF / name) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def seed_refs():
    return load_reference("seed_models.json")


@pytest.fixture(scope="module")
def client():
    """A Dask LocalCluster of 2 worker processes and its client, for one test module
    (the Dask tests import dask themselves and are skipped without it); closed after."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def raises_naming(d, call, exc, pieces):
    """call(d) raises exc whose message holds every piece, and d is left unchanged."""
    before = copy.deepcopy(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc) as ei:
            call(d)
    msg = str(ei.value)
    for piece in pieces:
        assert piece in msg, f"{piece!r} not in {msg!r}"
    pd.testing.assert_frame_equal(d, before)
    return ei.value


def rss_mb():
    """Resident set size of this process in MB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
