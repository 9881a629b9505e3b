"""vpcctl: the command-line client of the vpc-provisioner API.

README "Try it (local stack)" shows it, "The same with vpcctl".
"""
