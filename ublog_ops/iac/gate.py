"""The stateful-resource safety gate: a plan that replaces or destroys a resource holding data is refused.

Stateful kinds (the data would be lost): RDS instances (and clusters), S3 buckets, ElastiCache clusters /
replication groups / serverless caches, Secrets Manager secrets and DynamoDB tables — in each tool's own type
names below. A replacement counts too (replace = destroy + create: the data does not move), and so does a CDK
"may be replaced" (CloudFormation decides at deploy time; we refuse rather than gamble). ``forget`` (the resource is
kept in AWS, only dropped from state) is not refused.

:func:`check` raises :class:`~ublog_ops.errors.RefusedError` (exit 3) naming every such resource unless
``allow_destroy`` is true.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import RefusedError
from .summary import Change, PlanSummary

#: Stateful resource types per tool, with the human kind shown in messages.
STATEFUL_TYPES: dict[str, str] = {
    # Terraform (hashicorp/aws)
    "aws_db_instance": "RDS instance",
    "aws_rds_cluster": "RDS cluster",
    "aws_rds_cluster_instance": "RDS instance",
    "aws_s3_bucket": "S3 bucket",
    "aws_elasticache_cluster": "ElastiCache cluster",
    "aws_elasticache_replication_group": "ElastiCache replication group",
    "aws_elasticache_serverless_cache": "ElastiCache serverless cache",
    "aws_secretsmanager_secret": "Secrets Manager secret",
    "aws_dynamodb_table": "DynamoDB table",
    # Pulumi (pulumi-aws)
    "aws:rds/instance:Instance": "RDS instance",
    "aws:rds/cluster:Cluster": "RDS cluster",
    "aws:rds/clusterInstance:ClusterInstance": "RDS instance",
    "aws:s3/bucket:Bucket": "S3 bucket",
    "aws:s3/bucketV2:BucketV2": "S3 bucket",
    "aws:elasticache/cluster:Cluster": "ElastiCache cluster",
    "aws:elasticache/replicationGroup:ReplicationGroup": "ElastiCache replication group",
    "aws:elasticache/serverlessCache:ServerlessCache": "ElastiCache serverless cache",
    "aws:secretsmanager/secret:Secret": "Secrets Manager secret",
    "aws:dynamodb/table:Table": "DynamoDB table",
    # CloudFormation (CDK)
    "AWS::RDS::DBInstance": "RDS instance",
    "AWS::RDS::DBCluster": "RDS cluster",
    "AWS::S3::Bucket": "S3 bucket",
    "AWS::ElastiCache::CacheCluster": "ElastiCache cluster",
    "AWS::ElastiCache::ReplicationGroup": "ElastiCache replication group",
    "AWS::ElastiCache::ServerlessCache": "ElastiCache serverless cache",
    "AWS::SecretsManager::Secret": "Secrets Manager secret",
    "AWS::DynamoDB::Table": "DynamoDB table",
    "AWS::DynamoDB::GlobalTable": "DynamoDB table",
}

DANGEROUS_ACTIONS = ("replace", "destroy")


def stateful_changes(changes: Iterable[Change]) -> list[Change]:
    """Changes that replace or destroy a stateful resource."""
    return [ch for ch in changes if ch.action in DANGEROUS_ACTIONS and ch.type in STATEFUL_TYPES]


def describe(ch: Change) -> str:
    verb = f"may {ch.action}" if ch.possible else ch.action
    name = f" {ch.name}" if ch.name and ch.name not in ch.address else ""
    return f"{verb} {STATEFUL_TYPES.get(ch.type, ch.type)} {ch.address}{name}"


def check(summary: PlanSummary, *, allow_destroy: bool) -> list[Change]:
    """Refuse (exit 3) a plan that replaces/destroys stateful resources unless ``allow_destroy``.

    Returns the stateful changes found (allowed ones included) and records them in ``summary.notes`` so the
    printed and GitHub summaries say what the gate saw."""
    found = stateful_changes(summary.changes)
    if not found:
        return found
    listed = "; ".join(describe(ch) for ch in found)
    if allow_destroy:
        summary.notes.append(f"allowed by --allow-destroy: {listed}")
        return found
    summary.notes.append(f"refused (stateful data would be lost): {listed}")
    raise RefusedError(
        f"refused: the {summary.tool} plan for {summary.stack}/{summary.env} would {listed}",
        hint="review the plan; if losing that data is intended, rerun with --allow-destroy",
    )
