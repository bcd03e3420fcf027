# Security groups: internet -> ALB -> ECS tasks -> RDS / Redis / interface endpoints. Nothing else is open.

resource "aws_security_group" "alb" {
  name        = "${local.b}-alb-sg"
  description = "ALB of ${local.b}: HTTP and HTTPS from anywhere"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "HTTP (redirected to HTTPS)"
    protocol    = "tcp"
    from_port   = 80
    to_port     = 80
    cidr_blocks = ["0.0.0.0/0"]
  }

  ingress {
    description = "HTTPS"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "To the ECS tasks"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = [var.vpc_cidr]
  }

  tags = merge(local.tags, { Name = "${local.b}-alb-sg" })
}

resource "aws_security_group" "ecs" {
  name        = "${local.b}-ecs-sg"
  description = "ECS tasks of every app env on ${local.b}: reachable only from the ALB"
  vpc_id      = aws_vpc.this.id

  ingress {
    description     = "From the ALB"
    protocol        = "tcp"
    from_port       = 0
    to_port         = 65535
    security_groups = [aws_security_group.alb.id]
  }

  egress {
    description = "Out (NAT, endpoints, RDS, Redis)"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(local.tags, { Name = "${local.b}-ecs-sg" })
}

resource "aws_security_group" "rds" {
  name        = "${local.b}-rds-sg"
  description = "RDS of ${local.b}: PostgreSQL from the ECS tasks only"
  vpc_id      = aws_vpc.this.id

  ingress {
    description     = "PostgreSQL from the ECS tasks"
    protocol        = "tcp"
    from_port       = 5432
    to_port         = 5432
    security_groups = [aws_security_group.ecs.id]
  }

  tags = merge(local.tags, { Name = "${local.b}-rds-sg" })
}

resource "aws_security_group" "redis" {
  name        = "${local.b}-redis-sg"
  description = "ElastiCache of ${local.b}: Redis from the ECS tasks only"
  vpc_id      = aws_vpc.this.id

  ingress {
    description     = "Redis from the ECS tasks"
    protocol        = "tcp"
    from_port       = 6379
    to_port         = 6379
    security_groups = [aws_security_group.ecs.id]
  }

  tags = merge(local.tags, { Name = "${local.b}-redis-sg" })
}

resource "aws_security_group" "endpoints" {
  name        = "${local.b}-vpce-sg"
  description = "Interface VPC endpoints of ${local.b}: HTTPS from the ECS tasks only"
  vpc_id      = aws_vpc.this.id

  ingress {
    description     = "HTTPS from the ECS tasks"
    protocol        = "tcp"
    from_port       = 443
    to_port         = 443
    security_groups = [aws_security_group.ecs.id]
  }

  tags = merge(local.tags, { Name = "${local.b}-vpce-sg" })
}
