"""Delete the files of the big numerical packages that the prediction service never uses.

    python prune_venv.py --used RECORD_DIR [--keep-list OUT] PACKAGE_DIR...

``RECORD_DIR`` holds the file lists that ``warm_imports.py --record`` wrote: every file that
``bcml serve`` opened, imported or mapped while serving every candidate model on every route.
In each ``PACKAGE_DIR`` (e.g. ``site-packages/scipy``, ``site-packages/scipy.libs``) every
other file is deleted: test suites, datasets, type stubs, Cython and Fortran sources, and the
subpackages and extension modules the service never imports (most of SciPy: signal, io,
interpolate, ndimage, ...). Byte-code files stay when their source stays. ``*.dist-info`` is
not touched. The Dockerfile then runs ``warm_imports.py`` again on the pruned venv, in fresh
processes, and the build fails if anything the service needs was removed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def used_files(record: Path) -> set[str]:
    lists = sorted(record.glob("*.txt"))
    if not lists:
        raise SystemExit(f"prune: no file lists in {record}; run warm_imports.py --record first")
    used: set[str] = set()
    for path in lists:
        used.update(line for line in path.read_text().splitlines() if line)
    return used


def keep(path: Path, used: set[str]) -> bool:
    if str(path) in used:
        return True
    if path.parent.name == "__pycache__" and path.suffix == ".pyc":
        source = path.parent.parent / (path.name.split(".", 1)[0] + ".py")
        return str(source) in used
    return False


def size(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() or p.is_symlink())


def prune(root: Path, used: set[str]) -> tuple[int, int, list[str]]:
    """Delete the unused files below ``root``; return (bytes before, bytes after, kept)."""
    root = root.resolve()
    if not any(u.startswith(f"{root}/") for u in used):
        raise SystemExit(f"prune: nothing under {root} was used: refusing to delete it all")
    before = size(root)
    kept = []
    for dirpath, _, filenames in os.walk(root, topdown=False):
        folder = Path(dirpath)
        for name in filenames:
            path = folder / name
            if keep(path, used):
                kept.append(str(path.relative_to(root.parent)))
            else:
                path.unlink()
        if folder != root and not any(folder.iterdir()):
            folder.rmdir()
    return before, size(root), kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--used", type=Path, required=True, help="warm_imports.py --record DIR")
    parser.add_argument("--keep-list", type=Path, help="write the kept files here")
    parser.add_argument("packages", type=Path, nargs="+", help="package folders to prune")
    args = parser.parse_args(argv)
    used = used_files(args.used)
    total_before = total_after = 0
    all_kept: list[str] = []
    for root in args.packages:
        if not root.is_dir():
            raise SystemExit(f"prune: {root} is not a folder")
        before, after, kept = prune(root, used)
        total_before += before
        total_after += after
        all_kept += kept
        print(
            f"prune: {root.name:<14} {before / 1e6:6.1f} MB -> {after / 1e6:6.1f} MB "
            f"({len(kept)} files kept)"
        )
    print(f"prune: total {total_before / 1e6:.1f} MB -> {total_after / 1e6:.1f} MB")
    if args.keep_list is not None:
        args.keep_list.write_text("\n".join(sorted(all_kept)) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
