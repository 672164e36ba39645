"""Write a notebook from a list of ("md" | "code" | "params", source) cells (used to author notebooks/).

The file is what nbstripout, the git filter of ``.gitattributes``, leaves of a notebook: no outputs,
cell ids ``"0", "1", ...``, no ``language_info`` (docs/CONTRIBUTING.md); so a notebook that JupyterLab
saved with outputs is, to git, unchanged. The kernel is the kit's, "Python (pml-kit)".
"""

import sys

import nbformat

KERNELSPEC = {"name": "pml-kit", "display_name": "Python (pml-kit)", "language": "python"}


def write(path, cells):
    nb = nbformat.v4.new_notebook()
    for index, (kind, source) in enumerate(cells):
        source = source.strip("\n")
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
        cell.id = str(index)
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nbformat.write(nb, path)


if __name__ == "__main__":
    sys.exit("import this module from an authoring script")
