"""pytest fixtures for the interop tests."""
import pytest

from interop_support import Procs


@pytest.fixture
def procs():
    ps = Procs()
    yield ps
    ps.close()
