"""test_iam_policies.py's check, in the second group of integration tests (tests/conftest.py
OWN_GROUP): under pytest-xdist each group's worker records only its own tests' AWS calls,
so each group checks them against the policies itself, last (marker `after_all`)."""

from __future__ import annotations

import pytest

from integration.test_iam_policies import (
    test_every_aws_call_is_allowed_by_its_functions_policy as test_every_call_of_this_group_is_allowed,  # noqa: E501
)

pytestmark = pytest.mark.after_all

__all__ = ["test_every_call_of_this_group_is_allowed"]
