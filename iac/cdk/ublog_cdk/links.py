"""How an app stack finds its base stack: SSM parameters written by the base stack, read by the app stack.

Why SSM and not CloudFormation exports: an export cannot change or disappear while any stack imports it, so a
base change (a replaced ALB listener, a new subnet) would be blocked by every app env. SSM parameters are read at
deploy time (CloudFormation parameters of type ``AWS::SSM::Parameter::Value<...>``), so the base can evolve and
each app env picks the new values up on its next deploy. The base stack also has ordinary Outputs (the
contract's ``BASE_OUTPUTS``) for people and scripts.
"""

from __future__ import annotations

from ublog_ops.iac_contract import BASE_OUTPUTS

#: Extra links that are not stack outputs but the app stack needs (Route53 alias target, ECS secret ARN).
EXTRA_LINKS = ("alb_canonical_hosted_zone_id", "rds_password_secret_arn")
#: Links that hold a list (SSM StringList).
LIST_LINKS = ("private_subnet_ids",)


def parameter_name(prefix: str, base_env: str, key: str) -> str:
    """``/ublog/base/dev/vpc_id``: one SSM parameter per output of base env ``base_env``."""
    if key not in BASE_OUTPUTS and key not in EXTRA_LINKS:
        raise KeyError(f"unknown base link {key!r}")
    return f"/{prefix}/base/{base_env}/{key}"


def output_id(key: str) -> str:
    """CloudFormation output logical id for a contract output name: ``alb_dns_name`` -> ``AlbDnsName``."""
    return "".join(part.capitalize() for part in key.split("_"))
