"""Make scripts/ importable from tests (for the notebook builder)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import nbgen  # noqa: E402,F401
