"""Build notebooks from lists of cells, so source notebooks stay reviewable, rebuildable and output-free.

A cell is ("md", text), ("code", text) or ("params", text); the "params" cell is tagged
`parameters` for papermill.
"""

from __future__ import annotations

from pathlib import Path

import nbformat


def make(path: str | Path, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, src in cells:
        src = src.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(src))
        elif kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(src))
        elif kind == "params":
            c = nbformat.v4.new_code_cell(src)
            c.metadata["tags"] = ["parameters"]
            nb.cells.append(c)
        else:
            raise ValueError(kind)
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i:02d}"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
