"""What every result carries so that its number can be traced: versions, hashes, commit."""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

_PACKAGES = ("transferstudy", "torch", "torchvision", "timm", "numpy", "scikit-learn", "scipy", "h5py",
             "statsmodels", "matplotlib", "pandas", "snakemake")


@functools.cache
def library_versions():
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    commit = git_commit()
    if commit:
        versions["transferstudy_git_commit"] = commit
    return versions


def git_commit():
    """The commit of the source tree this package was imported from, with '+dirty' if modified."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _module_file(name, package=PACKAGE):
    """The source file of module ``name`` (``transferstudy.data.datasets``) in ``package``, or None."""
    base = Path(package).joinpath(*name.split(".")[1:])
    return next((f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()), None)


@functools.cache
def imported_modules(path, module, package=PACKAGE):
    """The transferstudy modules the file of ``module`` (``""`` for a script outside the package) imports, at module
    level or in functions, with their parent packages."""
    within = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "transferstudy"}
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = within.split(".")[:len(within.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            if target.split(".")[0] != "transferstudy":
                continue
            for alias in node.names:  # `from . import x` imports module x when x is one
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _module_file(candidate, package) else target)
    parents = {".".join(name.split(".")[:k]) for name in found for k in range(1, name.count(".") + 1)}
    return found | parents


def code_files(script, package=PACKAGE):
    """The files of ``package`` (this transferstudy) that ``script`` computes with: every module it imports,
    directly or through each other, and the package data beside them (timm's top-1 table)."""
    files, pending = {}, [(Path(script), "")]
    while pending:
        path, module = pending.pop()
        for name in imported_modules(path, module, package):
            source = _module_file(name, package)
            if source is not None and name not in files:
                files[name] = source
                pending.append((source, name))
    data = {f for source in files.values() for f in source.parent.glob("*.csv")}
    return sorted(set(files.values()) | data)


@functools.cache
def code_hash(script, package=PACKAGE):
    """sha256 of ``script`` and its ``code_files``, by content and path within the package. The workflow gives it
    to each rule as a parameter, so that editing the script or a module it uses re-runs exactly the jobs that run
    them, while the same code elsewhere (a second clone, a moved checkout) re-runs nothing. It replaces
    Snakemake's own code trigger, which compares the script's modification time with the outputs' (a fresh
    clone is newer than every result) and ignores the modules."""
    digest = hashlib.sha256(Path(script).name.encode() + b"\0" + Path(script).read_bytes() + b"\0")
    for path in code_files(script, package):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
