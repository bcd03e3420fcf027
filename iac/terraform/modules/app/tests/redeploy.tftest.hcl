# `terraform test` (Terraform >= 1.7) with a mocked AWS provider: create the app stack, then re-apply it with a
# changed task definition and check the rule that matters most — the services keep running what they ran.
# Needs the hashicorp/aws provider for its schema (no AWS calls): see iac/README.md, "Validation".

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:eu-west-1:123456789012:repository/ublog-backend"
      repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ublog-backend"
    }
  }
  mock_data "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dev-rds-password-AbCdEf" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_route53_zone" {
    defaults = { zone_id = "Z0000000000000" }
  }
  mock_data "aws_lb_hosted_zone_id" {
    defaults = { id = "Z32O12XQLNTSW2" }
  }
  # The provider still validates arguments, so resources referenced as ARNs get ARN-shaped mock values. Task
  # definitions keep random ones: a new revision must get a new ARN.
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/mock/0123456789abcdef" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/alpha-cluster" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/alpha/mock" }
  }
}

variables {
  env               = "alpha"
  base_env          = "dev"
  domain            = "example.com"
  listener_priority = 30910
  base = {
    base_name                = "dev"
    vpc_id                   = "vpc-0123456789abcdef0"
    private_subnet_ids       = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
    app_security_group_id    = "sg-0123456789abcdef0"
    listener_arn             = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/dev-alb/0123456789abcdef/0123456789abcdef"
    alb_dns_name             = "dev-alb-123456789.eu-west-1.elb.amazonaws.com"
    rds_address              = "dev-rds.abcdefghijkl.eu-west-1.rds.amazonaws.com"
    rds_password_secret_name = "dev-rds-password"
    redis_host               = "dev-redis.abcdef.ng.0001.euw1.cache.amazonaws.com"
    assets_bucket_name       = "ublog-dev-assets"
  }
}

run "create" {
  command = apply

  assert {
    condition     = alltrue([for s in aws_ecs_service.this : s.desired_count == 0])
    error_message = "services must be created with desired_count 0"
  }

  assert {
    condition     = alltrue([for name, s in aws_ecs_service.this : s.task_definition == aws_ecs_task_definition.this[name].arn])
    error_message = "a new service runs its first task-definition revision"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this["gunicorn"].container_definitions)[0].image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ublog-backend:latest"
    error_message = "task definitions start on the latest tag"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this["gunicorn"].container_definitions)[0].secrets[0].valueFrom == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dev-rds-password-AbCdEf:password::"
    error_message = "POSTGRES_PASSWORD comes from the password key of the base's secret"
  }

  assert {
    condition     = aws_lb_listener_rule.this["gunicorn"].priority == 30910 && aws_lb_listener_rule.this["web-ui"].priority == 30911
    error_message = "listener-rule priorities are listener_priority and listener_priority + 1"
  }

  assert {
    condition     = length(aws_appautoscaling_target.this) == 0
    error_message = "autoscaling is off by default"
  }
}

# A re-apply after the definition changed in IaC (here: the settings module) registers new revisions but
# must leave every service on the revision it runs (in real life: the one the App Update pipeline deployed).
run "redeploy_with_a_changed_definition" {
  command = apply

  variables {
    django_settings_module = "backend.settings.staging"
  }

  # A changed container_definitions forces a new revision; the mock provider does not know that, so ask for
  # the replacement the real provider plans, and give the new revision the ARN AWS would (family:2).
  plan_options {
    replace = [aws_ecs_task_definition.this["gunicorn"]]
  }

  override_resource {
    target = aws_ecs_task_definition.this
    values = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/alpha-gunicorn:2" }
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this["gunicorn"].container_definitions)[0].environment[0].value == "backend.settings.staging"
    error_message = "the changed definition is registered as a new revision"
  }

  assert {
    condition     = aws_ecs_task_definition.this["gunicorn"].arn != run.create.task_definition_arns["gunicorn"]
    error_message = "the new revision replaced the old one in state"
  }

  assert {
    condition     = aws_ecs_service.this["gunicorn"].task_definition == run.create.task_definition_arns["gunicorn"]
    error_message = "re-deploying the app stack changed the task definition a service runs"
  }

  assert {
    condition     = alltrue([for s in aws_ecs_service.this : s.desired_count == 0])
    error_message = "re-deploying the app stack changed a service's desired count"
  }
}

run "autoscaling_on" {
  command = plan

  variables {
    autoscaling_enabled = true
  }

  assert {
    condition     = toset(keys(aws_appautoscaling_target.this)) == toset(["gunicorn", "default"])
    error_message = "autoscaling covers gunicorn and default"
  }
}
