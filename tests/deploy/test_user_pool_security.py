"""A stage may require MFA (an authenticator app) and turn on Cognito's threat protection:
both off by default, both in every backing template (CloudFormation for `make deploy` and
`make backing`, Terraform), never passed on to a function's environment."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deploy.conftest import terraform_command
from infra.cloudformation import merge_template
from infra.package import package
from infra.stage import CONFIG_PATH, Stage
from infra.terraform_backing import backing

SECURED = {"USER_POOL_MFA": "ON", "USER_POOL_THREAT_PROTECTION": "ENFORCED"}


def _with(stage: Stage, **env: str) -> Stage:
    return replace(stage, env={**stage.env, **env})


def _cfn_pool(stage: Stage) -> dict[str, Any]:
    return dict(merge_template(stage)["Resources"]["UserPool"]["Properties"])


def _tf_pool(stage: Stage) -> dict[str, Any]:
    return dict(backing(stage, "api")["resource"]["aws_cognito_user_pool"]["users"])


def test_by_default_neither_mfa_nor_threat_protection(stage: Stage) -> None:
    for pool in (_cfn_pool(stage), _tf_pool(stage)):
        assert not {"MfaConfiguration", "UserPoolAddOns", "UserPoolTier"} & set(pool)
        assert not {"mfa_configuration", "user_pool_add_ons", "user_pool_tier"} & set(pool)


def test_a_stage_that_asks_gets_mfa_by_app_and_threat_protection_in_both_outputs(
    stage: Stage,
) -> None:
    secured = _with(stage, **SECURED)

    cfn = _cfn_pool(secured)
    assert cfn["MfaConfiguration"] == "ON"
    assert cfn["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert cfn["UserPoolTier"] == "PLUS"
    assert cfn["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    tf = _tf_pool(secured)
    assert tf["mfa_configuration"] == "ON"
    assert tf["software_token_mfa_configuration"] == {"enabled": True}
    assert tf["user_pool_tier"] == "PLUS"
    assert tf["user_pool_add_ons"] == {"advanced_security_mode": "ENFORCED"}


@pytest.mark.parametrize(
    ("variable", "value"), [("USER_POOL_MFA", "required"), ("USER_POOL_THREAT_PROTECTION", "on")]
)
def test_an_unknown_choice_is_refused_naming_the_variable(
    stage: Stage, variable: str, value: str
) -> None:
    with pytest.raises(ValueError, match=variable):
        merge_template(_with(stage, **{variable: value}))


def test_the_choices_reach_the_pool_and_never_a_functions_environment(tmp_path: Path) -> None:
    """Packaged with a stage that sets both: the pool has them, no output names the variables
    (a function's environment would)."""
    chalice_dir = tmp_path / ".chalice"
    shutil.copytree(CONFIG_PATH.parent, chalice_dir)
    config = json.loads(CONFIG_PATH.read_text())
    config["stages"]["dev"]["environment_variables"].update(SECURED)
    (chalice_dir / "config.json").write_text(json.dumps(config))

    built = package("dev", tmp_path / "out", config=chalice_dir / "config.json")

    outputs = (built.cloudformation, built.terraform)
    texts = [path.read_text() for folder in outputs for path in folder.rglob("*.json")]
    assert any('"MfaConfiguration": "ON"' in t or '"MfaConfiguration":"ON"' in t for t in texts)
    assert any('"mfa_configuration": "ON"' in t or '"mfa_configuration":"ON"' in t for t in texts)
    assert not any(name in t for t in texts for name in SECURED)


def test_terraform_validates_a_secured_pool(
    terraform_initialized: Callable[[str], Path],
    stage: Stage,
    terraform: tuple[str, Path],
    tmp_path: Path,
) -> None:
    """The provider in use knows every argument (user_pool_tier came late to provider 5)."""
    workdir = tmp_path / "tf"
    shutil.copytree(terraform_initialized(stage.name), workdir, symlinks=True)
    document = json.loads((workdir / "backing.tf.json").read_text())
    document["resource"]["aws_cognito_user_pool"]["users"] = _tf_pool(_with(stage, **SECURED))
    (workdir / "backing.tf.json").write_text(json.dumps(document))
    run = terraform_command(terraform[0], workdir)

    report = json.loads(run("validate", "-json", "-no-color").stdout)
    assert report["valid"] is True, report
