"""The region's Availability Zones, as the API checks a subnet's `az` against them.

A module of its own, apart from the worker's EC2 gateway (`ec2`): the API asks EC2
this one question, and its cold start need not load the rest.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import BackendFailure


class ZoneDirectory:
    """The region's Availability Zone names, fetched once per process.

    Raises BackendFailure if EC2 cannot be asked, or answers with no zone (the API answers
    503).
    """

    def __init__(self, client: Any) -> None:
        self._ec2 = client
        self._zones: frozenset[str] | None = None
        self._lock = threading.Lock()

    def names(self) -> frozenset[str]:
        if self._zones is not None:
            return self._zones
        with self._lock:
            if self._zones is None:
                try:
                    response = self._ec2.describe_availability_zones()
                except (ClientError, BotoCoreError) as exc:
                    raise BackendFailure("EC2 DescribeAvailabilityZones", exc) from exc
                zones = frozenset(
                    str(z["ZoneName"])
                    for z in response.get("AvailabilityZones", [])
                    # Local and Wavelength Zones are not Availability Zones.
                    if z.get("ZoneType", "availability-zone") == "availability-zone"
                )
                if not zones:
                    # A region always has zones: an answer listing none is EC2 lagging, not
                    # news. Never cached (it would refuse every request), nor taken as the
                    # region's (no `az` would be valid, and none could be spread over).
                    raise BackendFailure(
                        "EC2 DescribeAvailabilityZones",
                        RuntimeError("an answer listing no Availability Zone proves nothing"),
                    )
                self._zones = zones
            return self._zones
