# The app stack of one env: ECS cluster, roles, log groups, task definitions, services, target groups, listener
# rules on the base's HTTPS listener, and the Route53 record. Names follow ublog_ops/naming.py; the values
# (commands, ports, sizes, paths) mirror ublog_ops/iac_contract.py, and tests/iac checks they agree.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_ecr_repository" "this" {
  for_each = toset(["backend", "frontend"])

  name = "${var.prefix}-${each.key}"
}

data "aws_secretsmanager_secret" "db_password" {
  name = var.base.rds_password_secret_name
}

locals {
  host = "${var.env}.${var.domain}"
  tags = merge(var.tags, { env = var.env, base = var.base_env })

  # Every task-definition family: the image it runs, its command, container ports and Fargate size.
  families = {
    gunicorn = {
      image   = "backend"
      command = ["gunicorn", "-t", "1000", "-b", "0.0.0.0:8000", "--log-level", "info", "backend.wsgi"]
      ports   = [8000]
      cpu     = 512
      memory  = 1024
    }
    default = {
      image   = "backend"
      command = ["celery", "--app=backend.celery_app:app", "worker", "--loglevel=INFO", "-Q", "default"]
      ports   = []
      cpu     = 512
      memory  = 1024
    }
    beat = {
      image   = "backend"
      command = ["celery", "--app=backend.celery_app:app", "beat", "--loglevel=INFO"]
      ports   = []
      cpu     = 256
      memory  = 512
    }
    backend_update = {
      image   = "backend"
      command = ["python", "manage.py", "pre_update"]
      ports   = []
      cpu     = 512
      memory  = 1024
    }
    "web-ui" = {
      image   = "frontend"
      command = ["node", ".output/server/index.mjs"]
      ports   = [3000]
      cpu     = 256
      memory  = 512
    }
  }

  # Long-running services (backend_update is a one-off task run by the App Update pipeline).
  services = ["gunicorn", "default", "beat", "web-ui"]

  # Services behind the ALB: target group health check, routed paths, listener-rule priority offset.
  web = {
    gunicorn = {
      port            = 8000
      health_path     = "/api/health-check/"
      paths           = ["/api/*", "/admin/*", "/graphql/*", "/mtv/*"]
      priority_offset = 0
    }
    "web-ui" = {
      port            = 3000
      health_path     = "/"
      paths           = ["/*"]
      priority_offset = 1
    }
  }

  environment = {
    backend = merge(var.backend_environment, {
      DJANGO_SETTINGS_MODULE = var.django_settings_module
      FRONTEND_URL           = "https://${local.host}"
      POSTGRES_NAME          = "${var.env}-db"
      POSTGRES_SERVICE_HOST  = var.base.rds_address
      REDIS_SERVICE_HOST     = var.base.redis_host
      S3_BUCKET_NAME         = var.base.assets_bucket_name
    })
    frontend = {
      API_BASE_URL = "https://${local.host}"
      NODE_ENV     = "production"
    }
  }

  secrets = {
    # The base's secret is JSON (username, password, host, ...): take its "password" key.
    backend  = { POSTGRES_PASSWORD = "${data.aws_secretsmanager_secret.db_password.arn}:password::" }
    frontend = {}
  }
}
