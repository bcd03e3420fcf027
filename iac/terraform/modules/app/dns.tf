# {env}.{domain} -> the base's ALB (alias A record).

data "aws_route53_zone" "this" {
  name         = coalesce(var.hosted_zone_name, var.domain)
  private_zone = false
}

data "aws_lb_hosted_zone_id" "this" {
  load_balancer_type = "application"
}

resource "aws_route53_record" "this" {
  zone_id = data.aws_route53_zone.this.zone_id
  name    = local.host
  type    = "A"

  alias {
    name                   = var.base.alb_dns_name
    zone_id                = data.aws_lb_hosted_zone_id.this.id
    evaluate_target_health = true
  }
}
