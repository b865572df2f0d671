# Territory reports: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DATA := data/demo
DEMO_OUT  := reports/demo

.PHONY: install demo demo-data test look lab clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lab]'
	touch $(STAMP)

install: $(STAMP)

demo-data: $(STAMP)
	$(BIN)/territory-reports demo-data $(DEMO_DATA)

demo: demo-data
	$(BIN)/territory-reports run --data $(DEMO_DATA) --params params/demo.yaml --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest

# The explorer opens as a working copy in .lab/ (git-ignored): outputs and autosaves never
# touch notebooks/explorer.ipynb; it runs on the kernel registered here, and every save
# strips outputs and widget state (analysis.lab.workcopy.pre_save_hook).
LAB_DIR := .lab
lab: demo-data
	$(BIN)/python -m ipykernel install --sys-prefix --name territory-reports --display-name "Territory reports"
	$(BIN)/python -m analysis.lab.workcopy notebooks/explorer.ipynb $(LAB_DIR)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root,) --ServerApp.root_dir=$(LAB_DIR) \
		--ContentsManager.pre_save_hook=analysis.lab.workcopy.pre_save_hook $(LAB_DIR)/explorer.ipynb

look: demo-data
	$(BIN)/python scripts/look.py --territory T01 --data $(DEMO_DATA) --out reports/look

clean:
	rm -rf $(DEMO_OUT) $(DEMO_DATA) .pytest_cache
