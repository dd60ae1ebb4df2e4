import json
from pathlib import Path

import numpy as np
import pytest

REF = Path(__file__).parent / "reference"
DATA = Path(__file__).parent / "data"


def load_reference(name):
    with open(REF / name) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def seed_refs():
    return load_reference("seed_models.json")
