# Cluster, log groups, task definitions and services.
#
# The rule that matters most: re-applying this stack never changes what is running. Services are created with
# desired_count 0 and the task definitions' first revision (image tag latest); afterwards the App Update pipeline
# (inv app.*) owns both, so ignore_changes keeps Terraform from resetting them. A re-apply may register a new
# task-definition revision (when its definition changed here); the next App Update picks it up.

resource "aws_ecs_cluster" "this" {
  name = "${var.env}-cluster"

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = merge(local.tags, { Name = "${var.env}-cluster" })

  lifecycle {
    precondition {
      condition     = var.base.base_name == var.base_env
      error_message = "base_env does not match the base stack's base_name output: wrong base workspace?"
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
    base              = 0
  }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.families

  name              = "/ecs/${var.env}/${each.key}"
  retention_in_days = var.log_retention_days

  tags = merge(local.tags, { Name = "/ecs/${var.env}/${each.key}" })
}

resource "aws_ecs_task_definition" "this" {
  for_each = local.families

  family                   = "${var.env}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  skip_destroy             = true # keep old revisions: a service may still run one

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([{
    name         = each.key
    image        = "${data.aws_ecr_repository.this[each.value.image].repository_url}:${var.image_tag}"
    essential    = true
    command      = each.value.command
    portMappings = [for port in each.value.ports : { containerPort = port, protocol = "tcp" }]
    environment  = [for key, value in local.environment[each.value.image] : { name = key, value = value }]
    secrets      = [for key, arn in local.secrets[each.value.image] : { name = key, valueFrom = arn }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.this[each.key].name
        "awslogs-region"        = data.aws_region.current.name
        "awslogs-stream-prefix" = each.key
      }
    }
  }])

  tags = merge(local.tags, { Name = "${var.env}-${each.key}" })
}

resource "aws_ecs_service" "this" {
  for_each = toset(local.services)

  name                               = "${var.env}-${each.key}"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this[each.key].arn
  desired_count                      = 0
  deployment_minimum_healthy_percent = each.key == "beat" ? 0 : 100 # celery beat must never run twice
  deployment_maximum_percent         = each.key == "beat" ? 100 : 200
  health_check_grace_period_seconds  = contains(keys(local.web), each.key) ? 60 : null
  propagate_tags                     = "SERVICE"
  enable_ecs_managed_tags            = true
  wait_for_steady_state              = false

  capacity_provider_strategy {
    capacity_provider = contains(var.spot_services, each.key) ? "FARGATE_SPOT" : "FARGATE"
    weight            = 1
  }

  network_configuration {
    subnets          = var.base.private_subnet_ids
    security_groups  = [var.base.app_security_group_id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "load_balancer" {
    for_each = contains(keys(local.web), each.key) ? [local.web[each.key]] : []

    content {
      target_group_arn = aws_lb_target_group.this[each.key].arn
      container_name   = each.key
      container_port   = load_balancer.value.port
    }
  }

  tags = merge(local.tags, { Name = "${var.env}-${each.key}" })

  # The App Update pipeline owns the running task definition and the task count (and autoscaling may change
  # the count): a re-apply must never reset them.
  lifecycle {
    ignore_changes = [task_definition, desired_count]
  }

  depends_on = [aws_ecs_cluster_capacity_providers.this, aws_lb_listener_rule.this, aws_iam_role_policy.execution]
}
