"""ublog-ops: deploy and operate μblog on AWS ECS Fargate. Every step is a plain function usable without Invoke."""

__version__ = "0.1.0"
