# Set-up and everyday commands. Each target installs what it needs first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo builder test lint format services

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: build the tutorial integration and run it against the Shopify sandbox
demo: $(STAMP)
	$(BIN)/python manage.py demo

## builder: serve the builder on the demo's data and print the URL and a sign-in
builder: $(STAMP)
	$(BIN)/python manage.py builder_demo

## test: the test suite against local PostgreSQL and Redis (started if stopped)
test: $(STAMP) services
	$(BIN)/python -m pytest

## lint: ruff's checks and formatting
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## services: start PostgreSQL and Redis on 127.0.0.1 when they are not answering
services:
	@bash .ci/services
