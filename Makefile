# The README's two commands: `make study` and `make test`. Both install into .venv first (once, and
# again when pyproject.toml or constraints.txt change), with the exact versions of constraints.txt.
VENV ?= .venv
CORES ?= 2
PYTHON ?= python3

.PHONY: install study test lock schema gpu-wheels timm-results network-costs

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --constraint constraints.txt --editable ".[test]"
	touch $@

install: $(VENV)/.installed

study: install
	$(VENV)/bin/snakemake --cores $(CORES)

# House style first (seconds), then the tests.
test: install
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/python -m pytest

# Refresh the lock after changing dependencies in pyproject.toml.
lock: install
	$(VENV)/bin/python -m pip freeze --exclude-editable | grep -v '^transferstudy' > constraints.txt

# Regenerate the workflow's config schema and config/README.md's key table after changing a settings group
# (src/transferstudy/config.py).
schema: install
	$(VENV)/bin/python -m transferstudy schema --out workflow/schemas/config.schema.yaml --readme config/README.md

# The packages a lent GPU machine lacks (its image has torch, timm, scikit-learn, statsmodels, h5py), as wheels in
# .whl/ (ignored) for benchmarks/gpu_check.py: carried with the run and installed there into /tmp/site.
GPU_PY ?= 3.12
gpu-wheels: install
	rm -rf .whl && mkdir -p .whl
	$(VENV)/bin/python -m pip download --quiet --no-deps --only-binary=:all: --python-version $(GPU_PY) \
		--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
		$$(grep -E '^(jsonschema|jsonschema-specifications|referencing|rpds-py|munch)==' constraints.txt)
	$(VENV)/bin/python -m pip wheel --quiet --no-deps -w .whl $$(grep -E '^pretrainedmodels==' constraints.txt)

# Rewrite timm's published results that the workflow looks up (src/transferstudy/nets/sources/
# timm_imagenet_results.csv) from the results/ folder of a pytorch-image-models checkout:
# make timm-results TIMM=path/to/pytorch-image-models (then update RESULTS_COMMIT in nets/sources/timm.py).
timm-results: install
	$(VENV)/bin/python -c "from transferstudy.nets.sources.timm import write_results_table; \
		write_results_table('$(TIMM)/results')"

# Recount the networks of the shipped configurations into the cost plan's table (src/transferstudy/nets/
# network_costs.csv) after adding a network to one of them or changing how networks are counted.
network-costs: install
	$(VENV)/bin/python -m transferstudy network-costs --configfile config/config.yaml \
		--configfile config/kornblith2019.yaml --configfile config/kornblith2019.yaml config/kornblith2019_ablation.yaml \
		--configfile config/modern.yaml
