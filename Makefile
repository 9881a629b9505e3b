# The two commands a newcomer needs: `make run` and `make test`.
# Everything else (a virtualenv, the dependencies) is set up on the way.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt requirements.txt | cksum | cut -d' ' -f1)

STAGE ?= dev

.PHONY: venv test chaos lint typecheck run token bench package deploy destroy clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy chalicelib app.py devstack bench infra

# The whole product on this machine: moto for AWS, the API on 127.0.0.1:$${PORT:-8000}.
run: venv
	$(BIN)/python -m devstack

# A fresh ID token for the local stack's demo user: TOKEN=$$(make -s token)
# (USER=admin: the demo user in the `admins` group, who may delete anyone's requests)
token: venv
	@$(BIN)/python -m devstack.token $(if $(filter command line,$(origin USER)),$(USER),)

test: lint typecheck
	$(BIN)/pytest

# Randomized fault schedules against the worker, many more than `make test` runs:
# make chaos [CHAOS_RUNS=100] [CHAOS_FIRST_SEED=1]
CHAOS_RUNS ?= 100
CHAOS_FIRST_SEED ?= 1
chaos: venv
	CHAOS_RUNS=$(CHAOS_RUNS) CHAOS_FIRST_SEED=$(CHAOS_FIRST_SEED) \
		$(BIN)/pytest tests/integration/test_chaos.py -p no:logging -q -s --timeout=600

# AWS calls per operation and the calls a caller waits for (see bench/aws_calls.py).
bench: venv
	PYTHONPATH=. $(BIN)/python -W ignore -m bench.aws_calls

# dist/cloudformation/ and dist/terraform/: two complete deployments of $(STAGE).
package: venv
	$(BIN)/python -m infra.package --stage $(STAGE)

# To the AWS account of the current credentials (CloudFormation); see README.
deploy: venv
	$(BIN)/python -m infra.deploy deploy --stage $(STAGE)

destroy: venv
	$(BIN)/python -m infra.deploy destroy --stage $(STAGE)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis dist .local
