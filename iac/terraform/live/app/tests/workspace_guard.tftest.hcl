# `terraform test` with a mocked AWS provider: the app root refuses to plan env alpha in any workspace but
# `alpha`, so one env's plan can never rewrite another env's state. (`terraform test` runs in the current
# workspace, `default`.) Needs the hashicorp/aws provider for its schema (no AWS calls).

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

override_data {
  target = data.terraform_remote_state.base
  values = {
    outputs = {
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
}

run "plan_in_the_wrong_workspace_fails" {
  command = plan

  variables {
    region            = "eu-west-1"
    env               = "alpha"
    base_env          = "dev"
    domain            = "example.com"
    listener_priority = 30910
  }

  expect_failures = [data.terraform_remote_state.base]
}
