# GitHub Actions -> AWS without stored keys: an OIDC provider and a deploy role that GitHub workflows of
# var.github_repository assume. The role allows exactly the API calls ublog-ops makes (inv app.*, the deploy
# lock), scoped to var.app_envs. It cannot run Terraform, push images or change infrastructure: give the
# workflow that runs `inv tf.*` its own, broader role (see iac/README.md).

locals {
  github_enabled = var.github_repository != null
  oidc_url       = "https://token.actions.githubusercontent.com"
  oidc_host      = "token.actions.githubusercontent.com"

  p = data.aws_partition.current.partition
  r = var.region
  a = data.aws_caller_identity.current.account_id

  clusters          = [for env in var.app_envs : "arn:${local.p}:ecs:${local.r}:${local.a}:cluster/${env}-cluster"]
  services          = [for env in var.app_envs : "arn:${local.p}:ecs:${local.r}:${local.a}:service/${env}-cluster/${env}-*"]
  tasks             = [for env in var.app_envs : "arn:${local.p}:ecs:${local.r}:${local.a}:task/${env}-cluster/*"]
  task_definitions  = [for env in var.app_envs : "arn:${local.p}:ecs:${local.r}:${local.a}:task-definition/${env}-*:*"]
  ecs_roles         = flatten([for env in var.app_envs : ["arn:${local.p}:iam::${local.a}:role/${env}-ecs-execution-role", "arn:${local.p}:iam::${local.a}:role/${env}-ecs-task-role"]])
  log_groups        = [for env in var.app_envs : "arn:${local.p}:logs:${local.r}:${local.a}:log-group:/ecs/${env}/*"]
  log_streams       = [for env in var.app_envs : "arn:${local.p}:logs:${local.r}:${local.a}:log-group:/ecs/${env}/*:log-stream:*"]
  oidc_provider_arn = one(concat(aws_iam_openid_connect_provider.github[*].arn, data.aws_iam_openid_connect_provider.github[*].arn))
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github_enabled && var.create_github_oidc_provider ? 1 : 0

  url            = local.oidc_url
  client_id_list = ["sts.amazonaws.com"]
  # AWS validates GitHub's certificate through its own trusted CAs; thumbprints are only required by older
  # provider versions.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]

  tags = merge(var.tags, { Name = "github-actions" })
}

data "aws_iam_openid_connect_provider" "github" {
  count = local.github_enabled && !var.create_github_oidc_provider ? 1 : 0

  url = local.oidc_url
}

data "aws_iam_policy_document" "deploy_trust" {
  count = local.github_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "${local.oidc_host}:sub"
      values   = [for subject in var.github_subjects : "repo:${var.github_repository}:${subject}"]
    }
  }
}

# Exactly what ublog-ops calls (ublog_ops.aws records every call; see iac/README.md for the list).
data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "Identity"
    actions   = ["sts:GetCallerIdentity"]
    resources = ["*"]
  }

  statement {
    sid       = "Images"
    actions   = ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:DescribeRepositories"]
    resources = [for repo in aws_ecr_repository.this : repo.arn]
  }

  statement {
    sid       = "EcsRead"
    actions   = ["ecs:Describe*", "ecs:List*"]
    resources = ["*"]
  }

  # No resource-level permissions exist for these three.
  statement {
    sid       = "TaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions", "ecs:RegisterTaskDefinition"]
    resources = ["*"]
  }

  statement {
    sid       = "RunOneOffTasks"
    actions   = ["ecs:RunTask"]
    resources = local.task_definitions

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = local.clusters
    }
  }

  statement {
    sid       = "StopTasks"
    actions   = ["ecs:StopTask"]
    resources = local.tasks
  }

  statement {
    sid       = "UpdateServices"
    actions   = ["ecs:UpdateService"]
    resources = local.services
  }

  statement {
    sid       = "TagOnCreate"
    actions   = ["ecs:TagResource"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RegisterTaskDefinition", "RunTask"]
    }
  }

  statement {
    sid       = "PassEcsRoles"
    actions   = ["iam:PassRole"]
    resources = local.ecs_roles

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents"]
    resources = concat(local.log_groups, local.log_streams)
  }

  statement {
    sid       = "DeployLock"
    actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.locks.arn]
  }
}

resource "aws_iam_role" "deploy" {
  count = local.github_enabled ? 1 : 0

  name                 = "${var.prefix}-github-deploy"
  description          = "Assumed by GitHub Actions of ${var.github_repository} to deploy app envs with ublog-ops"
  assume_role_policy   = data.aws_iam_policy_document.deploy_trust[0].json
  max_session_duration = 3600

  tags = merge(var.tags, { Name = "${var.prefix}-github-deploy" })
}

resource "aws_iam_role_policy" "deploy" {
  count = local.github_enabled ? 1 : 0

  name   = "${var.prefix}-deploy"
  role   = aws_iam_role.deploy[0].id
  policy = data.aws_iam_policy_document.deploy.json
}
