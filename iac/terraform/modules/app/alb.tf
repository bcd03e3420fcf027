# Target groups and listener rules on the base's shared HTTPS listener. Priorities come from listener_priority
# (derived per env, see variables.tf) so several app envs fit one base listener.

resource "aws_lb_target_group" "this" {
  for_each = local.web

  name                 = substr("${var.env}-${each.key}", 0, 32)
  port                 = each.value.port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.base.vpc_id
  deregistration_delay = 30

  health_check {
    path                = each.value.health_path
    matcher             = "200-399"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = merge(local.tags, { Name = substr("${var.env}-${each.key}", 0, 32) })
}

resource "aws_lb_listener_rule" "this" {
  for_each = local.web

  listener_arn = var.base.listener_arn
  priority     = var.listener_priority + each.value.priority_offset

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[each.key].arn
  }

  condition {
    host_header {
      values = [local.host]
    }
  }

  condition {
    path_pattern {
      values = each.value.paths
    }
  }

  tags = merge(local.tags, { Name = substr("${var.env}-${each.key}", 0, 32) })
}
