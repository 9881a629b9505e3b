"""`make backing` + `make chalice-deploy`, the Chalice way, against a moto server.

In a temporary copy of the project (app.py, chalicelib/, requirements.txt,
.chalice/: the real tree is never written), as a person would with an
account: `python -m infra.backing deploy` (what `make backing` runs, with
`--config` pointing at the copy), then `python -m infra.chalice_cli deploy
--stage dev` (what `make chalice-deploy` runs: `chalice deploy` with the
runtime pinned), then boto3 checks that the wiring is real: every function
runs python3.12 from a zip built for it, the functions' environment names the
resources the backing stack made, the table has its listing indexes, the
jobs queue redrives to the DLQ, the worker's event source has batch size 1
and the configured maximum concurrency, every role's policy is its template
rendered with those resources' ARNs, every method of the REST API is behind
the Cognito authorizer of the stack's user pool, the schedules call their
functions. Then `make chalice-delete` and `make backing-destroy` remove
everything, and the copy's `.chalice/` is as committed again. The whole
module takes about 10 s.

moto cannot run the functions (no Docker here), so what they do once
deployed is the rest of the suite's business. The server (`stack_moto`,
shared with tests/deploy/test_deploy_stack.py and reset first) has
CloudFormation models for the user pool, its client and the queue policy
(`support/moto_chalice_gaps.py`).
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from infra.backing_config import SECRET_VARIABLE, secret_parameter, stack_name
from infra.package import Packages
from infra.stage import CONFIG_PATH, FUNCTIONS, LAMBDA_RUNTIME, PROJECT_DIR, Stage, load_stage
from support import deployed_wiring
from support.moto_server import MotoServer

STAGE = "dev"
CHALICE = Path(sys.executable).with_name("chalice")
# What `chalice deploy` takes from the project: the rest of the tree is not the app's.
APP_FILES = ("app.py", "requirements.txt")
APP_DIRS = ("chalicelib",)
TIMEOUT = 120


@dataclass
class Deployment:
    """The copy, the moto server, and what each `make backing` printed."""

    project: Path
    moto: MotoServer
    stage: Stage
    committed_config: bytes
    backing_runs: list[str]

    @property
    def config(self) -> Path:
        return self.project / ".chalice" / "config.json"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto.endpoint_url,
            region_name=self.moto.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """A command in the copy, against moto, as a person with credentials would run it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=self.moto.endpoint_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            # What many people set (and `make backing`, `make chalice-deploy` accept): plain
            # boto3 and Chalice read AWS_DEFAULT_REGION only.
            AWS_REGION=self.moto.region,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            PYTHONPATH=str(PROJECT_DIR),
        )
        return subprocess.run(
            command,
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def backing(self, action: str) -> subprocess.CompletedProcess[str]:
        """What `make backing[-destroy] STAGE=dev` runs, on the copy's config."""
        return self.run(
            sys.executable,
            "-m",
            "infra.backing",
            action,
            "--stage",
            STAGE,
            "--config",
            str(self.config),
        )

    def chalice(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Chalice as `make chalice-deploy` / `make chalice-delete` run it: the runtime pinned."""
        return self.run(
            sys.executable, "-m", "infra.chalice_cli", "--project-dir", str(self.project), *args
        )

    def plain_chalice(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The `chalice` command itself, as Chalice's own guide has a person run it."""
        return self.run(str(CHALICE), "--project-dir", str(self.project), *args)

    def function(self, function: str) -> dict[str, Any]:
        return dict(
            self.client("lambda").get_function_configuration(
                FunctionName=self.stage.function_name(function)
            )
        )


def _ok(result: subprocess.CompletedProcess[str], what: str) -> str:
    assert result.returncode == 0, f"{what} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _copy_project(target: Path) -> None:
    for name in APP_FILES:
        shutil.copy2(PROJECT_DIR / name, target / name)
    for name in APP_DIRS:
        shutil.copytree(
            PROJECT_DIR / name, target / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copytree(
        CONFIG_PATH.parent,
        target / ".chalice",
        ignore=shutil.ignore_patterns("deployed", "deployments", "policy-*-*.json"),
    )


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, stack_moto: MotoServer
) -> Iterator[Deployment]:
    if not CHALICE.exists():
        pytest.skip(f"chalice is not installed next to {sys.executable}")

    project = tmp_path_factory.mktemp("chalice-project")
    _copy_project(project)
    real_tree = {p.name for p in CONFIG_PATH.parent.iterdir()}
    stack_moto.reset()
    deployment = Deployment(
        project=project,
        moto=stack_moto,
        stage=load_stage(STAGE, project / ".chalice" / "config.json"),
        committed_config=(project / ".chalice" / "config.json").read_bytes(),
        backing_runs=[],
    )
    for step in ("backing", "backing again"):
        deployment.backing_runs.append(_ok(deployment.backing("deploy"), f"make {step}"))
    _ok(deployment.chalice("deploy", "--stage", STAGE), "make chalice-deploy")
    yield deployment
    # The developer's own .chalice/ saw nothing of this (no deployment record, no policies).
    appeared = {p.name for p in CONFIG_PATH.parent.iterdir()} - real_tree
    assert not [n for n in appeared if n.startswith(("deploy", "policy-"))], appeared


def test_make_backing_wrote_the_stages_wiring_and_a_second_run_changed_nothing(
    deployed: Deployment,
) -> None:
    first, second = deployed.backing_runs
    assert "wrote .chalice/config.json" in first
    assert "wrote .chalice/" + f"policy-{STAGE}-worker.json" in first
    assert "is up to date" in second
    assert "wrote" not in second
    stack = deployed.client("cloudformation").describe_stacks(StackName=stack_name(deployed.stage))[
        "Stacks"
    ][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert "LastUpdatedTime" not in stack
    parameter = deployed.client("ssm").get_parameter(Name=secret_parameter(deployed.stage))
    assert parameter["Parameter"]["Type"] == "SecureString"
    assert parameter["Parameter"]["Version"] == 1  # drawn once, kept


def test_every_functions_environment_names_the_stacks_resources(deployed: Deployment) -> None:
    stage = deployed.stage
    sqs, cognito = deployed.client("sqs"), deployed.client("cognito-idp")
    pools = [
        p
        for p in cognito.list_user_pools(MaxResults=60)["UserPools"]
        if p["Name"] == stage.user_pool_name
    ]
    assert len(pools) == 1, pools
    pool_arn = cognito.describe_user_pool(UserPoolId=pools[0]["Id"])["UserPool"]["Arn"]
    (client,) = cognito.list_user_pool_clients(UserPoolId=pools[0]["Id"])["UserPoolClients"]
    table = deployed.client("dynamodb").describe_table(TableName=stage.table_name)["Table"]
    expected = {
        "TABLE_NAME": table["TableName"],
        # A queue's URL by its path: moto names its own host where AWS says sqs.<region>.
        "QUEUE_URL": _path(sqs.get_queue_url(QueueName=stage.queue_name)["QueueUrl"]),
        "QUEUE_NAME": stage.queue_name,
        "DLQ_URL": _path(sqs.get_queue_url(QueueName=stage.dlq_name)["QueueUrl"]),
        "USER_POOL_ARN": pool_arn,
        "USER_POOL_CLIENT_ID": client["ClientId"],
        SECRET_VARIABLE: secret_parameter(stage),
    }
    for function in FUNCTIONS:
        environment = deployed.function(function)["Environment"]["Variables"]
        actual = {name: environment.get(name) for name in expected}
        for url in ("QUEUE_URL", "DLQ_URL"):
            assert str(actual[url]).startswith("https://sqs."), (function, actual[url])
            actual[url] = _path(str(actual[url]))
        assert actual == expected, function
        assert "PAGE_TOKEN_SECRET" not in environment, function
        # `make backing` empties the mark where it stands; no function gets it.
        assert "UNBACKED_STAGE" not in environment, function
        # The stage's own settings came along (Chalice merges them into each function).
        assert environment["MAX_RECEIVE_COUNT"] == str(stage.max_receive_count), function


def test_the_user_pool_make_backing_made_has_the_admins_group(deployed: Deployment) -> None:
    """The first admin is made by adding a user to it (docs/deploy.md): it must exist."""
    cognito = deployed.client("cognito-idp")
    pools = [
        p
        for p in cognito.list_user_pools(MaxResults=60)["UserPools"]
        if p["Name"] == deployed.stage.user_pool_name
    ]
    groups = cognito.list_groups(UserPoolId=pools[0]["Id"])["Groups"]
    assert [g["GroupName"] for g in groups] == ["admins"]


def test_every_function_runs_python312_from_a_zip_built_for_it(deployed: Deployment) -> None:
    """`chalice deploy` alone gives the functions the runtime of the Python running it
    (3.11 here) and builds the zip's dependencies for that Python; `make chalice-deploy`
    pins both to LAMBDA_RUNTIME (Chalice names each zip it builds for its runtime)."""
    deployed_wiring.assert_functions_run_the_runtime(deployed.client, deployed.stage)
    zips = sorted(p.name for p in (deployed.project / ".chalice" / "deployments").glob("*.zip"))
    assert zips, "chalice deploy built no zip"
    assert [name for name in zips if not name.endswith(f"-{LAMBDA_RUNTIME}.zip")] == [], zips


def test_the_zip_chalice_deploy_uploads_holds_what_make_packages_does(
    deployed: Deployment, built: dict[str, Packages]
) -> None:
    """The same lean zip every way (infra/lambda_zip.py): no module nothing imports. (A
    copy of the zip Chalice built: Chalice keeps its own for a deploy of unchanged code.)"""
    (uploaded,) = (deployed.project / ".chalice" / "deployments" / "lean").glob("*.zip")
    with zipfile.ZipFile(uploaded) as archive:
        deployed_files = sorted(archive.namelist())
    with zipfile.ZipFile(built[STAGE].cloudformation / "deployment.zip") as archive:
        packaged_files = sorted(archive.namelist())

    assert deployed_files == packaged_files


def test_a_second_chalice_deploy_of_unchanged_code_succeeds_and_changes_no_function(
    deployed: Deployment,
) -> None:
    """Chalice hands back the zip it built before ("Reusing existing deployment package"):
    that zip must still be Chalice's own, not the lean copy made from it (making a lean
    zip twice over broke its Python)."""
    before = {name: deployed.function(name)["CodeSha256"] for name in FUNCTIONS}

    again = _ok(deployed.chalice("deploy", "--stage", STAGE), "a second make chalice-deploy")

    assert "Reusing existing deployment package" in again
    assert {name: deployed.function(name)["CodeSha256"] for name in FUNCTIONS} == before


class _NotAws(http.server.BaseHTTPRequestHandler):
    """Answers every request with a 503 page that is no AWS answer (a proxy's, a load
    balancer's): botocore cannot parse it."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        page = b"upstream connect error or disconnect/reset before headers"
        self.send_response(503)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("aws", ["out of reach", "not AWS"])
def test_a_chalice_deploy_that_cannot_reach_or_read_aws_says_so_in_one_line(
    deployed: Deployment, aws: str
) -> None:
    """A backed stage, and then AWS out of reach or answering what botocore cannot read:
    one line saying what failed, as `make deploy` and `make backing` say it (Chalice's
    own `main` prints a traceback)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotAws)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = (
            _closed_port()
            if aws == "out of reach"
            else f"http://127.0.0.1:{server.server_address[1]}"
        )
        unreachable = dataclasses.replace(deployed, moto=MotoServer(endpoint_url=endpoint))
        result = unreachable.chalice("deploy", "--stage", STAGE)
    finally:
        server.shutdown()
        server.server_close()

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    said = (
        "error: could not reach AWS"
        if aws == "out of reach"
        else "error: AWS answered with something that is not an AWS response"
    )
    assert line.startswith(said), line


def test_the_table_has_its_key_and_listing_indexes(deployed: Deployment) -> None:
    deployed_wiring.assert_listing_indexes(deployed.client, deployed.stage)


def test_the_jobs_queue_redrives_to_its_dlq_after_max_receive_count(deployed: Deployment) -> None:
    deployed_wiring.assert_jobs_queue_redrives_to_its_dlq(deployed.client, deployed.stage)


def test_the_worker_consumes_the_queue_one_message_at_a_time_with_its_concurrency(
    deployed: Deployment,
) -> None:
    deployed_wiring.assert_worker_consumes_the_jobs_queue(deployed.client, deployed.stage)


def test_every_role_holds_its_template_with_the_real_arns_and_nothing_else(
    deployed: Deployment,
) -> None:
    """The same least privilege as the packaged outputs: each role's one policy is the
    function's template rendered with the ARNs of what the stack made (and, for the API
    handler, reading the listing tokens' key parameter)."""
    deployed_wiring.assert_roles_hold_their_policies(
        deployed.client, deployed.stage, deployed.moto.region, deployed.moto.account_id
    )


# The only methods without an authorizer: the web console's page and files.


def test_every_method_of_the_api_is_behind_the_cognito_authorizer_of_the_pool(
    deployed: Deployment,
) -> None:
    apigateway = deployed.client("apigateway")
    api_id = _deployed_resource(deployed, "rest_api")["rest_api_id"]
    pool_arn = deployed.function("api_handler")["Environment"]["Variables"]["USER_POOL_ARN"]

    deployed_wiring.assert_every_route_is_behind_the_user_pool(
        deployed.client, deployed.stage, api_id, pool_arn
    )
    stages = apigateway.get_stages(restApiId=api_id)["item"]
    settings = json.loads(deployed.config.read_text())["stages"][STAGE]
    assert [s["stageName"] for s in stages] == [settings["api_gateway_stage"]]


def test_the_reaper_and_the_reconciler_run_on_their_schedules(deployed: Deployment) -> None:
    stage, events = deployed.stage, deployed.client("events")
    rules = events.list_rules(NamePrefix=f"{stage.app_name}-{stage.name}-")["Rules"]
    schedules = {
        rule["Name"]: (
            rule["ScheduleExpression"],
            [t["Arn"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]],
        )
        for rule in rules
    }

    assert schedules == {
        f"{stage.function_name('reaper')}-event": (
            "rate(5 minutes)",
            [deployed.function("reaper")["FunctionArn"]],
        ),
        f"{stage.function_name('reconciler')}-event": (
            "rate(3 minutes)",
            [deployed.function("reconciler")["FunctionArn"]],
        ),
    }


def test_chalice_delete_then_backing_destroy_remove_everything(deployed: Deployment) -> None:
    """Last: it takes the deployment down. `make backing-destroy` refuses while the
    functions exist; after `chalice delete` it removes the rest, and the stage's config
    is as committed again."""
    stage = deployed.stage
    refused = deployed.backing("destroy")
    assert refused.returncode == 1
    assert f"make chalice-delete STAGE={STAGE}" in refused.stderr

    _ok(deployed.chalice("delete", "--stage", STAGE), "make chalice-delete")
    _ok(deployed.backing("destroy"), "make backing-destroy")

    prefix = f"{stage.app_name}-{stage.name}"
    functions = deployed.client("lambda").list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions if f["FunctionName"].startswith(prefix)] == []
    roles = deployed.client("iam").list_roles()["Roles"]
    assert [r["RoleName"] for r in roles if r["RoleName"].startswith(prefix)] == []
    assert deployed.client("apigateway").get_rest_apis()["items"] == []
    assert deployed.client("events").list_rules(NamePrefix=prefix)["Rules"] == []
    assert deployed.client("dynamodb").list_tables()["TableNames"] == []
    assert deployed.client("sqs").list_queues().get("QueueUrls", []) == []
    assert deployed.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"] == []
    assert deployed.client("ssm").describe_parameters()["Parameters"] == []
    stacks = deployed.client("cloudformation").list_stacks()["StackSummaries"]
    assert {s["StackStatus"] for s in stacks} <= {"DELETE_COMPLETE"}
    assert deployed.config.read_bytes() == deployed.committed_config
    assert sorted((deployed.project / ".chalice").glob("policy-*-*.json")) == []


def test_backing_destroy_keeps_prods_table_and_user_pool(deployed: Deployment) -> None:
    """As `make destroy` does: in `prod` the data outlives the stack (DeletionPolicy Retain)."""
    prod = load_stage("prod", deployed.config)
    for action in ("deploy", "destroy"):
        result = deployed.run(
            sys.executable,
            "-m",
            "infra.backing",
            action,
            "--stage",
            "prod",
            "--config",
            str(deployed.config),
        )
        _ok(result, f"make backing{'-destroy' if action == 'destroy' else ''} STAGE=prod")

    assert prod.table_name in deployed.client("dynamodb").list_tables()["TableNames"]
    pools = deployed.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
    assert [p["Name"] for p in pools] == [prod.user_pool_name]
    queues = deployed.client("sqs").list_queues().get("QueueUrls", [])
    assert [url.rsplit("/", 1)[-1] for url in queues] == [prod.dlq_name]
    assert "The table, the user pool and the dead-letter queue are kept" in result.stdout
    # A create/destroy cycle leaves the stage as committed (it names the generated policy
    # files, not the templates, and is marked unbacked again).
    assert deployed.config.read_bytes() == deployed.committed_config


def _unreachable(project: Path, stage: str) -> Deployment:
    """The project copied into `project`, with AWS a port nothing listens on: anything
    sent fails."""
    if not CHALICE.exists():
        pytest.skip(f"chalice is not installed next to {sys.executable}")
    _copy_project(project)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto = MotoServer(endpoint_url=f"http://127.0.0.1:{port}")
    committed = (project / ".chalice" / "config.json").read_bytes()
    return Deployment(project, moto, load_stage(stage), committed, [])


def _nothing_deployed(project: Path) -> None:
    assert not (project / ".chalice" / "deployed").exists()
    assert not (project / ".chalice" / "deployments").exists()


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_chalice_deploy_before_make_backing_stops_before_sending_anything(
    tmp_path: Path, stage: str
) -> None:
    """As committed, a stage has no backing resources: `make chalice-deploy` (and `chalice
    deploy` itself) must say to run `make backing` (not send `{{placeholders}}` to IAM,
    nor fail on a policy file that `make backing` writes)."""
    nobody = _unreachable(tmp_path, stage)

    for result in (
        nobody.chalice("deploy", "--stage", stage),
        nobody.plain_chalice("deploy", "--stage", stage),
    ):
        assert result.returncode != 0
        assert result.stderr == (
            f"error: stage {stage} has no backing resources yet: run `make backing "
            f"STAGE={stage}` (a stage backed already is left as it is), then "
            f"`make chalice-deploy STAGE={stage}`\n"
        ), result.stdout + result.stderr
    # Deleting it (a clone whose config.json was checked out again): the same, then delete.
    deleting = nobody.chalice("delete", "--stage", stage)
    assert deleting.returncode != 0
    assert deleting.stderr.endswith(f"then `make chalice-delete STAGE={stage}`\n"), deleting.stderr
    _nothing_deployed(tmp_path)


def test_a_clone_of_a_backed_stage_is_told_to_run_make_backing_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    """`make backing` writes the stage into config.json and its policy files beside it, and
    git ignores the files: a clone of a stage backed (and committed) elsewhere has the
    config without them. `make chalice-deploy` says to run `make backing` there (not
    Chalice's "Unable to load IAM policy file" traceback) and sends nothing."""
    nobody = _unreachable(tmp_path, STAGE)
    config = json.loads(nobody.config.read_text())
    del config["stages"][STAGE]["environment_variables"]["UNBACKED_STAGE"]  # backed elsewhere
    nobody.config.write_text(json.dumps(config))

    result = nobody.chalice("deploy", "--stage", STAGE)

    assert result.returncode == 2
    missing = ", ".join(
        f".chalice/policy-{STAGE}-{name}.json" for name in ("api", "reaper", "reconciler", "worker")
    )
    assert result.stderr == (
        f"error: stage {STAGE}'s policy files are not here ({missing}; `make backing` writes "
        "them from the stage's stack, and git ignores them): run `make backing STAGE=dev`, "
        "then `make chalice-deploy STAGE=dev`\n"
    ), result.stdout + result.stderr
    _nothing_deployed(tmp_path)


def test_plain_chalice_deploy_is_refused_before_sending_anything(tmp_path: Path) -> None:
    """`chalice deploy` itself would deploy the functions on the Python running it
    (python3.11 here): it stops at once and names `make chalice-deploy`."""
    nobody = _unreachable(tmp_path, STAGE)
    config = json.loads(nobody.config.read_text())
    del config["stages"][STAGE]["environment_variables"]["UNBACKED_STAGE"]  # as if backed
    nobody.config.write_text(json.dumps(config))

    result = nobody.plain_chalice("deploy", "--stage", STAGE)

    assert result.returncode != 0
    local = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert result.stderr == (
        f"error: `chalice deploy` alone would deploy the functions on {local}, the Python "
        "running it: run `make chalice-deploy STAGE=<stage>`, which deploys them on "
        f"{LAMBDA_RUNTIME} as every deployment does\n"
    ), result.stdout + result.stderr
    _nothing_deployed(tmp_path)


@pytest.mark.parametrize(
    ("target", "command"), [("chalice-deploy", "deploy"), ("chalice-delete", "delete")]
)
def test_the_make_targets_run_chalice_with_the_runtime_pinned(target: str, command: str) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed on this machine")
    dry_run = subprocess.run(
        [make, "-n", "-C", str(PROJECT_DIR), target, "STAGE=qa"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"-m infra.chalice_cli {command} --stage qa" in dry_run.stdout


def _path(url: str) -> str:
    return urlparse(url).path


def _deployed_resource(deployed: Deployment, resource_type: str) -> dict[str, Any]:
    record = json.loads((deployed.project / ".chalice" / "deployed" / f"{STAGE}.json").read_text())
    (resource,) = [r for r in record["resources"] if r["resource_type"] == resource_type]
    return dict(resource)
