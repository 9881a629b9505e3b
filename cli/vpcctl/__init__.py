"""vpcctl: the command-line client of the vpc-provisioner API.

docs/local-stack.md shows it, "The same with vpcctl".
"""
