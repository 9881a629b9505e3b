# The two commands a newcomer needs: `make run` and `make test`.
# Everything else (a virtualenv, the dependencies) is set up on the way.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt requirements.txt | cksum | cut -d' ' -f1)
# checkov has a venv of its own (its pins conflict with ours; see requirements-checkov.txt).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements-checkov.txt | cksum | cut -d' ' -f1)
# mutmut too (`make mutate` only, never in CI): the test environment plus mutmut.
MUTMUT_VENV := .venv-mutmut
MUTMUT_STAMP := $(MUTMUT_VENV)/.installed-$(shell cat requirements-mutmut.txt requirements-dev.txt requirements.txt | cksum | cut -d' ' -f1)

# Python keeps its compiled bytecode (__pycache__, ignored by git), whatever the shell says:
# with PYTHONDONTWRITEBYTECODE=1 every process `make test` starts (four workers, a dozen
# local stacks, vpcctl, chalice package) compiled the project's modules again, and pytest
# rewrote every test module's asserts in every worker (collecting took 15 s of CPU a
# worker instead of 7.5).
unexport PYTHONDONTWRITEBYTECODE

STAGE ?= dev
# make run STATE=.local-2 PORT=8001: a second local stack with its own state folder
# (make token/env STATE=.local-2 reach it); PERSIST=1 keeps moto's state across restarts.
# The folder goes to the shell in single quotes: a checkout (or STATE) whose path has a
# space, as `~/My Projects/...` does, is one word there. make's abspath would split such a
# STATE at the space, so one with a space is only made absolute, not tidied.
shell_quote = '$(subst ','\'',$(1))'
STATE_DIR = $(if $(word 2,$(STATE)),$(if $(filter /%,$(firstword $(STATE))),,$(CURDIR)/)$(STATE),$(abspath $(STATE)))
# Without STATE, the default folder (an empty DEVSTACK_STATE_DIR is .local/ to devstack): the
# DEVSTACK_STATE_DIR an eval of another stack's `make -s env STATE=...` exported would
# otherwise send this shell's bare `make -s env`, token and run to that stack.
STACK_ENV := DEVSTACK_STATE_DIR=$(if $(STATE),$(call shell_quote,$(STATE_DIR))) $(if $(PERSIST),PERSIST=$(call shell_quote,$(PERSIST)) )

# `make` alone lists the targets. Each target's line is its `## ` comment (else the
# first line of the `#` comment above it): a new target shows up with no more work.
.DEFAULT_GOAL := help

.PHONY: help env unenv venv checkov test chaos people mutate lint typecheck run token bench package deploy destroy backing chalice-deploy chalice-delete backing-destroy clean

## Every target, one line each (this list).
help:
	@echo "make TARGET [VARIABLE=value ...]   (vpc-provisioner; README.md and docs/ say more)"
	@awk -v stage=$(STAGE) '/^## /{doc=substr($$0,4);next} /^# /{if(cmt=="")cmt=substr($$0,3);next} /^$$/{doc="";cmt="";next} \
		/^[a-zA-Z][a-zA-Z0-9_-]*:([^=]|$$)/{split($$0,t,":");d=(doc!=""?doc:cmt);gsub(/\$$\$$/,"$$",d);gsub(/\$$\(STAGE\)/,stage,d);printf "  %-16s %s\n",t[1],d;doc="";cmt=""}' \
		$(MAKEFILE_LIST)

# Install requirements file $(2) into the virtualenv $(1), made first if need be, then make
# its stamp $(3), saying first what it installs and for how long ($(4)). uv does it
# in about 15 s where pip takes about 2 minutes (a fresh clone's `make test` was 2 minutes
# of installing); uv comes from the package registry like everything else, and pip does
# the work wherever uv cannot be had. A virtualenv of a Python older than 3.11, or with
# neither its uv nor pip (a `python3 -m venv` that failed half way), is made again: it
# would fail the same way on every run, and no message would say to remove it. (One with
# its uv and no pip is whole: `uv pip sync` takes pip out.)
# Two makes at once need the same venv: the quick start's `make run` in one terminal and
# `eval "$(make -s env)"` in another, during the first install. Unserialized, the second
# took the first's venv, still inside `python -m venv` (no pip yet), for one made half way
# and removed it under the first, or both installed into one site-packages. So the install
# holds a lock beside the venv ($(1).lock; flock, as devstack's lock.py: the kernel lets go
# of it however make ends), and one that waited finds the stamp and installs nothing. The
# stamp is named for the requirements' content: one that is there, only older than the files
# (a fresh checkout or worktree of the same requirements), needs nothing, not even the lock.
# Where there is no flock (macOS has none by default) the installs run unserialized.
UV_VERSION := 0.13.8
NEW_ENOUGH := import sys; sys.exit(sys.version_info < (3, 11))
define install
	@set -e; [ ! -e $(3) ] || exit 0; exec 9>$(1).lock; \
	if command -v flock >/dev/null 2>&1 && ! flock -n 9; then \
		echo "(another make is installing into $(1): waiting for it to finish)" >&2; flock 9; \
	fi; \
	[ ! -e $(3) ] || exit 0; \
	echo "$(4)" >&2; \
	{ test -x $(1)/bin/uv || $(1)/bin/python -c 'import pip' 2>/dev/null; } \
		&& $(1)/bin/python -c '$(NEW_ENOUGH)' 2>/dev/null || { \
		rm -rf $(1); \
		$(PYTHON) -c '$(NEW_ENOUGH)' 2>/dev/null || { \
			echo "error: vpc-provisioner needs Python 3.11 or newer, and $(PYTHON) is $$($(PYTHON) -V 2>/dev/null || echo missing): install one and run make with PYTHON=python3.11 (or newer)" >&2; exit 1; }; \
		$(PYTHON) -m venv $(1) || { rm -rf $(1); \
			echo "error: $(PYTHON) -m venv could not make $(1) (on Debian or Ubuntu: apt install python3-venv)" >&2; exit 1; }; \
	}; \
	if { test -x $(1)/bin/uv || $(1)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) >/dev/null 2>&1; }; then \
		$(1)/bin/uv pip install --quiet --compile-bytecode --python $(1)/bin/python -r $(2); \
	else \
		echo "(uv could not be installed: pip it is, about 2 minutes)" >&2; \
		$(1)/bin/python -m pip install --quiet --disable-pip-version-check -r $(2); \
	fi; \
	rm -f $(1)/.installed-*; \
	touch $(3)
endef

VENV_SAYS = Installing the pinned dependencies into $(VENV) (once, and after a requirements change): about 15 seconds with uv...
$(STAMP): requirements.txt requirements-dev.txt
	$(call install,$(VENV),requirements-dev.txt,$@,$(VENV_SAYS))

## Set up .venv with the pinned development dependencies (every target does it on the way).
venv: $(STAMP)

CHECKOV_SAYS = Installing checkov into $(CHECKOV_VENV) for make test (once, and after a requirements-checkov.txt change): about 20 seconds with uv...
$(CHECKOV_STAMP): requirements-checkov.txt
	$(call install,$(CHECKOV_VENV),requirements-checkov.txt,$@,$(CHECKOV_SAYS))

# checkov in .venv-checkov, for the deploy tests, which ask for it themselves
# (tests/deploy/test_checkov.py); `make test` begins it beside the tests.
checkov: $(CHECKOV_STAMP)

## ruff: lint and format check.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

TYPED := chalicelib app.py devstack bench infra cli/vpcctl tests
## mypy (strict) on the app, devstack, bench, infra, the CLI and the tests.
typecheck: venv
	$(BIN)/mypy $(TYPED)

## The whole product on this machine, moto for AWS: [PORT=8000] [PERSIST=1] [STATE=.local].
# The whole product on this machine: moto for AWS, the API on 127.0.0.1:$${PORT:-8000}.
run: venv
	@$(STACK_ENV)$(BIN)/python -m devstack

## Shell exports for the running stack (AWS CLI, boto3, curl): eval "$$(make -s env)".
# With no stack, what it prints makes the eval fail saying so, and it exits 3
# (devstack/env.py, EVAL_FAILS): not make's failure, which would add a line of its own.
env: venv
	@$(STACK_ENV)$(BIN)/python -m devstack.env || [ $$? = 3 ]

# Undo `eval "$(make -s env)"`: eval "$(make -s unenv)"
unenv: venv
	@$(BIN)/python -m devstack.env --unset

# A fresh ID token for the local stack's demo user: TOKEN=$$(make -s token)
# (USER=admin: the demo user in the `admins` group, who may delete anyone's requests)
token: venv
	@$(STACK_ENV)$(BIN)/python -m devstack.token $(if $(filter command line,$(origin USER)),$(USER),) \
		|| status=$$?; [ "$${status:-0}" = 141 ] || exit $${status:-0}

# Test workers: one per core, and at least 4: the end-to-end tests mostly wait on their
# local stack (on two cores a third worker took 6:50 to 5:20, a fourth 6:23 to 5:26 on a
# busy machine). TEST_JOBS=N overrides.
TEST_WORKERS := $(or $(TEST_JOBS),$(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -lt 4 ] && echo 4 || echo $$n))

## Lint, types and every test: unit, integration (moto), end-to-end (the local stack).
# mypy runs beside the tests (one core for about 15 s on a fresh clone, where the tests
# leave a core idle while their longest group ends); what it says is printed after them,
# and either failing fails the target.
test: lint
	@echo "$(BIN)/mypy $(TYPED) (beside the tests) & $(BIN)/pytest -n $(TEST_WORKERS)"
	@[ -e $(CHECKOV_STAMP) ] || echo "$(CHECKOV_SAYS) (beside the tests)" >&2
	@$(MAKE) -s checkov >/dev/null 2>&1 & \
		said=$$(mktemp); $(BIN)/mypy $(TYPED) > $$said 2>&1 & mypy=$$!; \
		$(BIN)/pytest -n $(TEST_WORKERS); tests=$$?; \
		wait $$mypy; types=$$?; echo "mypy:"; cat $$said; rm -f $$said; \
		[ $$tests = 0 ] && [ $$types = 0 ]

## Randomized fault schedules against the worker: [CHAOS_RUNS=100] [CHAOS_FIRST_SEED=1].
# Randomized fault schedules against the worker, many more than `make test` runs:
# make chaos [CHAOS_RUNS=100] [CHAOS_FIRST_SEED=1]
CHAOS_RUNS ?= 100
CHAOS_FIRST_SEED ?= 1
chaos: venv
	CHAOS_RUNS=$(CHAOS_RUNS) CHAOS_FIRST_SEED=$(CHAOS_FIRST_SEED) \
		$(BIN)/pytest tests/integration/test_chaos.py -p no:logging -q -rP --timeout=600 \
		-n $(or $(TEST_JOBS),auto) --dist load

## People's edits to EC2 between reconciler runs: [PEOPLE_RUNS=200] [PEOPLE_FIRST_SEED=1].
# People change EC2 behind the service's back between reconciler runs (some runs throttled,
# listings lagging), many more seeds than `make test` runs (tests/integration/people; a
# seed is about a second of CPU, a failure prints it and what the people did):
# make people [PEOPLE_RUNS=200] [PEOPLE_FIRST_SEED=1]
PEOPLE_RUNS ?= 200
PEOPLE_FIRST_SEED ?= 1
people: venv
	PEOPLE_RUNS=$(PEOPLE_RUNS) PEOPLE_FIRST_SEED=$(PEOPLE_FIRST_SEED) \
		$(BIN)/pytest tests/integration/people -p no:logging -q -n $(or $(TEST_JOBS),auto)

MUTMUT_SAYS = Installing mutmut and the test dependencies into $(MUTMUT_VENV) (once, and after a requirements change): about 15 seconds with uv...
$(MUTMUT_STAMP): requirements-mutmut.txt requirements-dev.txt requirements.txt
	$(call install,$(MUTMUT_VENV),requirements-mutmut.txt,$@,$(MUTMUT_SAYS))

## Mutation testing of the code that deletes (mutmut; bench/mutation_score.py; ~1 h, not in CI).
# Every mutant of the functions of the reconciler, the teardown, DELETE, the rollback and
# their store and EC2 helpers (TARGETS in bench/mutation_score.py), run against the unit
# and integration tests that reach it; then the score and the survivors
# (`.venv-mutmut/bin/mutmut show <name>` shows one).
mutate: $(MUTMUT_STAMP)
	rm -rf mutants
	$(MUTMUT_VENV)/bin/python -m bench.mutation_score --targets \
		| xargs -d '\n' $(MUTMUT_VENV)/bin/mutmut run --max-children $(or $(MUTATE_JOBS),2) || true
	$(MUTMUT_VENV)/bin/python -m bench.mutation_score

## Benchmarks: AWS calls per operation, the Lambda zip, the local stack under load.
# AWS calls per operation and the calls a caller waits for (see bench/aws_calls.py), a
# POST's against its budget and with 5,000 live allocations (bench/pool_posts.py);
# a reconciler run's calls over BENCH_SUCCEEDED SUCCEEDED requests, the drift check
# (bench/reconciler_calls.py); the Lambda zip's size and the app's cold import time
# (bench/lambda_package.py); the local stack under load, BENCH_POSTS requests
# (bench/local_stack.py, ~1-2 min).
BENCH_POSTS ?= 3000
BENCH_SUCCEEDED ?= 1000
bench: venv
	PYTHONPATH=. $(BIN)/python -W ignore -m bench.aws_calls
	PYTHONPATH=. $(BIN)/python -W ignore -m bench.pool_posts
	PYTHONPATH=. $(BIN)/python -W ignore -m bench.reconciler_calls --requests $(BENCH_SUCCEEDED)
	PYTHONPATH=. $(BIN)/python -W ignore -m bench.lambda_package
	PYTHONPATH=. $(BIN)/python -m bench.local_stack --posts $(BENCH_POSTS)

# dist/cloudformation/ and dist/terraform/: two complete deployments of $(STAGE).
package: venv
	$(BIN)/python -m infra.package --stage $(STAGE)

# To the AWS account of the current credentials (CloudFormation); see docs/deploy.md.
deploy: venv
	$(BIN)/python -m infra.deploy deploy --stage $(STAGE)

## Delete the stack `make deploy` made (STAGE=dev).
destroy: venv
	$(BIN)/python -m infra.deploy destroy --stage $(STAGE)

## The backing resources as a stack of their own, for `chalice deploy` (see docs/deploy.md).
# The Chalice way: the backing resources as a stack of their own, and what
# `chalice deploy --stage $(STAGE)` needs written into .chalice/; see docs/deploy.md.
backing: venv
	$(BIN)/python -m infra.backing deploy --stage $(STAGE)

## After `make backing`: `chalice deploy --stage $(STAGE)` with the functions on python3.12.
# Chalice alone would deploy the runtime of the Python running it (infra/chalice_cli.py).
chalice-deploy: venv
	$(BIN)/python -m infra.chalice_cli deploy --stage $(STAGE)

## `chalice delete --stage $(STAGE)`: what `make chalice-deploy` made.
chalice-delete: venv
	$(BIN)/python -m infra.chalice_cli delete --stage $(STAGE)

## Delete the backing resources' stack, after `make chalice-delete STAGE=$(STAGE)`.
backing-destroy: venv
	$(BIN)/python -m infra.backing destroy --stage $(STAGE)

## Remove .venv, caches, dist/ and .local/ (a running local stack's state too).
clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(MUTMUT_VENV) $(VENV).lock $(CHECKOV_VENV).lock $(MUTMUT_VENV).lock mutants .pytest_cache .mypy_cache .ruff_cache .hypothesis dist .local
