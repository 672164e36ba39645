"""Write a notebook from a list of ("md" | "code" | "params", source) cells (used to author notebooks/)."""

import hashlib
import sys
from pathlib import Path

import nbformat


def write(path, cells):
    """Cell ids derive from the notebook's name and the cell's place, so that regenerating an unchanged
    notebook writes the same bytes."""
    nb = nbformat.v4.new_notebook()
    for index, (kind, source) in enumerate(cells):
        source = source.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
        nb.cells[-1].id = hashlib.sha1(f"{Path(path).stem}:{index}".encode()).hexdigest()[:8]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)


if __name__ == "__main__":
    sys.exit("import this module from an authoring script")
