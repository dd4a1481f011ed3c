"""The package's shape: dependencies point one way, from data to analysis, with no import cycle, and planning a
study imports none of the heavy libraries."""

import subprocess
import sys

from workflow_runs import ROOT
from transferstudy.provenance import imported_modules

PACKAGE = ROOT / "src" / "transferstudy"

# Each layer may import its own modules and those of the layers before it, never a later one.
LAYERS = ["shared", "data", "nets", "train", "transfer", "analysis", "study", "cli"]
SHARED = {"io", "errors", "provenance", "logs", "metrics", "settings", "switches", "config", "schema", "results",
          "functions"}


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module):
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in SHARED:
        return "shared"
    if parts[1] == "__main__":
        return "cli"
    return parts[1]


def _graph():
    # The import resolution the workflow hashes each rule's code with (with each module's parent packages).
    return {_module_name(path): imported_modules(path, _module_name(path)) - {_module_name(path)}
            for path in PACKAGE.rglob("*.py")}


def test_every_module_belongs_to_a_layer():
    for module in _graph():
        assert _layer(module) in LAYERS, module


def test_no_module_imports_a_later_layer():
    for module, imported in _graph().items():
        for other in imported:
            assert LAYERS.index(_layer(other)) <= LAYERS.index(_layer(module)), f"{module} imports {other}"


def test_there_is_no_import_cycle():
    graph = _graph()
    state = {}

    def visit(module, path):
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            if state.get(other) == "open":
                cycle = path[path.index(other):] + [other]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if other not in state:
                visit(other, path + [other])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


HEAVY = ("torch", "torchvision", "timm", "matplotlib", "statsmodels", "sklearn")


def test_planning_a_study_imports_no_heavy_library(tmp_path):
    # What the workflow's DAG is built from (workflow/rules/common.smk), then a whole dry-run of the workflow.
    code = ("import sys; import transferstudy.study.plan, transferstudy.analysis.catalogue, transferstudy.settings; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    plan = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert plan.stdout.strip() == "[]"
    dry_run = ("import atexit, sys; "
               f"atexit.register(lambda: print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))); "
               "from snakemake.cli import main; "
               f"sys.argv = ['snakemake', '-n', '--quiet', '--snakefile', {str(ROOT / 'Snakefile')!r}, "
               f"'--configfile', {str(ROOT / 'config' / 'config.yaml')!r}, '--directory', {str(tmp_path)!r}]; "
               "main()")
    result = subprocess.run([sys.executable, "-c", dry_run], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in result.stdout, (result.stdout + result.stderr)[-3000:]


# Job types that compute without torch, and the heavy imports none of them may pay at start-up: the whole of
# statsmodels (statsmodels.api), pyplot's backends, torchvision's package (which pulls in torch._dynamo).
TORCH_FREE_SCRIPTS = ("accuracy_table", "select_hyperparameters", "promote_rung", "make_dataset", "check_data",
                      "analysis_tables", "figure", "pairwise_table", "convergence_tables", "ablation_tables",
                      "tsne_table", "transferability_table", "transferability_evaluation", "cost_plan")
SLOW_IMPORTS = ("statsmodels.api", "matplotlib.pyplot", "torchvision", "torch._dynamo")


def test_jobs_import_only_what_they_compute_with():
    scripts = ROOT / "workflow" / "scripts"
    for script in sorted(scripts.glob("[a-z]*.py")):
        modules = sorted(m for m in imported_modules(script, "") if not any(
            other.startswith(m + ".") for other in imported_modules(script, "")))
        avoid = SLOW_IMPORTS + (("torch",) if script.stem in TORCH_FREE_SCRIPTS else ())
        code = (f"import sys; import {', '.join(modules)}; "
                f"print(sorted(m for m in {avoid!r} if m in sys.modules))")
        loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert loaded.stdout.strip() == "[]", f"{script.name} imports {loaded.stdout.strip()}"


def test_each_package_docstring_names_every_module_of_the_package():
    import ast
    import re

    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        members = [p.stem for p in init.parent.glob("*.py") if p.stem not in ("__init__", "__main__")]
        members += [p.name for p in init.parent.iterdir() if (p / "__init__.py").is_file()]
        unnamed = [name for name in members if not re.search(rf"``{re.escape(name)}(``|\.)", doc)]
        assert not unnamed, f"{init.relative_to(PACKAGE.parent)}: its docstring does not name {unnamed}"
