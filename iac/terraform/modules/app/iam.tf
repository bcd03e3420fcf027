# Two roles per env, scoped to what μblog needs (no wildcards beyond ecr:GetAuthorizationToken, which has no
# resource-level permissions): the execution role pulls images, writes logs and reads the DB password secret;
# the task role lets the app use its assets bucket.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.env}-ecs-execution-role"
  description        = "ECS task execution role of ${var.env}: image pulls, logs, DB password secret"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = merge(local.tags, { Name = "${var.env}-ecs-execution-role" })
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "EcrPull"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [for repo in data.aws_ecr_repository.this : repo.arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for group in aws_cloudwatch_log_group.this : "${group.arn}:*"]
  }

  statement {
    sid       = "DbPassword"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [data.aws_secretsmanager_secret.db_password.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "${var.env}-ecs-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.env}-ecs-task-role"
  description        = "ECS task role of ${var.env}: the application's own AWS access"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = merge(local.tags, { Name = "${var.env}-ecs-task-role" })
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "AssetsBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.base.assets_bucket_name}"]
  }

  statement {
    sid       = "AssetsObjects"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.base.assets_bucket_name}/*"]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "${var.env}-ecs-task"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
