"""`python -m vpcctl`, the same as the `vpcctl` console script."""

from vpcctl.commands import main

main()
