"""Functions of one's own named in the config: ``path/to/file.py:function`` (a file relative to the working
directory) or ``package.module:function``. A network's builder (``models.<name>.python``) and a transferability
score (``transferability.estimators: [{python: ...}]``) are named so; the file is an input of the jobs that call
it, so that editing it re-runs them."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from .errors import InputError


def python_reference(text):
    """(module file or module name, function name) of a ``python`` reference: ``path/to/file.py:function`` or
    ``package.module:function``; an InputError naming what is wrong."""
    module, colon, function = str(text).rpartition(":")
    if not colon or not module or not function.isidentifier():
        raise InputError(f"python = {text!r}: give 'path/to/file.py:function' or 'package.module:function'")
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise InputError(f"python = {text!r}: file {path} ({path.resolve()}) not found (relative paths are "
                             "relative to the working directory)")
        return path, function
    if not all(part.isidentifier() for part in module.split(".")):
        raise InputError(f"python = {text!r}: {module!r} is neither a .py file nor a module name")
    return module, function


def python_file(text):
    """The file a ``python`` reference names, or None for a module name (found on the import path)."""
    module, _ = python_reference(text)
    return module if isinstance(module, Path) else None


def load_function(reference):
    """The function a ``python`` reference names and the file it is defined in."""
    module, function = python_reference(reference)
    try:
        if isinstance(module, Path):
            name = "transferstudy_user_" + hashlib.sha256(str(module.resolve()).encode()).hexdigest()[:12]
            loader_spec = importlib.util.spec_from_file_location(name, module)
            loaded = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = loaded
            loader_spec.loader.exec_module(loaded)
        else:
            loaded = importlib.import_module(module)
    except Exception as error:  # the user's module: any error while importing it is reported as such
        raise InputError(f"python = {reference!r}: importing {module} failed ({type(error).__name__}: "
                         f"{error})") from error
    found = getattr(loaded, function, None)
    if not callable(found):
        defined = sorted(n for n, v in vars(loaded).items() if inspect.isfunction(v) and not n.startswith("_")
                         and v.__module__ == loaded.__name__)
        raise InputError(f"python = {reference!r}: {module} has no function {function!r}; it defines "
                         f"{', '.join(defined) or 'none'}")
    return found, Path(loaded.__file__)
