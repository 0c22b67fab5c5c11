"""The engine is plain computation: importing it must not pull in Django."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def test_importing_the_engine_loads_no_django():
    # A fresh interpreter: in this one pytest-django may already have loaded Django.
    check = "import sys, monitoring.engine; assert not [m for m in sys.modules if m.startswith('django')]"
    subprocess.run([sys.executable, "-c", check], cwd=PROJECT, check=True, capture_output=True, text=True)
