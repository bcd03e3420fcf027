import pytest

from ublog_ops.naming import FAMILIES, SERVICES, Names, NamingError, repository_name, split_image, validate_env


def test_default_names_match_ublog_iac():
    n = Names(env="alpha", base_env="dev", prefix="ublog")
    assert n.cluster == "alpha-cluster"
    assert [n.service(s) for s in SERVICES] == ["alpha-gunicorn", "alpha-default", "alpha-beat", "alpha-web-ui"]
    assert n.family("backend_update") == "alpha-backend_update"
    assert n.container("web-ui") == "web-ui"
    assert n.log_group("gunicorn") == "/ecs/alpha/gunicorn"
    assert n.log_stream("gunicorn", "abc123") == "gunicorn/gunicorn/abc123"
    assert n.ecr_repository("backend") == "ublog-backend"
    assert n.ecr_repository("frontend") == "ublog-frontend"
    assert n.image("backend", "v1.2.3", "123456789012", "eu-west-1") == (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ublog-backend:v1.2.3"
    )
    assert n.ecs_security_group == "dev-ecs-sg"
    assert n.rds_instance == "dev-rds"
    assert n.base_tag == {"env": "dev"}
    assert n.db_name == "alpha-db"
    assert set(FAMILIES) == {*SERVICES, "backend_update"}


def test_one_prefix_setting_drives_both_repositories():
    n = Names(env="alpha", prefix="acme/ublog")
    assert n.ecr_repository("backend") == "acme/ublog-backend"
    assert n.ecr_repository("frontend") == "acme/ublog-frontend"


def test_overrides_replace_templates():
    n = Names(env="alpha", overrides={"cluster": "{env}-ecs", "log_group": "/aws/ecs/{env}-{name}"})
    assert n.cluster == "alpha-ecs"
    assert n.log_group("beat") == "/aws/ecs/alpha-beat"
    assert n.service("beat") == "alpha-beat"


@pytest.mark.parametrize("bad", ["", "Alpha", "1alpha", "al_pha", "a" * 32, "alpha;rm", None])
def test_invalid_env_rejected(bad):
    with pytest.raises(NamingError):
        validate_env(bad)


def test_unknown_override_or_placeholder_rejected():
    with pytest.raises(NamingError):
        Names(env="alpha", overrides={"clusterr": "x"})
    with pytest.raises(NamingError):
        Names(env="alpha", overrides={"cluster": "{nope}"})


def test_split_image():
    assert split_image("1.dkr.ecr.r.amazonaws.com/ublog-backend:v1") == (
        "1.dkr.ecr.r.amazonaws.com/ublog-backend",
        "v1",
    )
    assert split_image("localhost:5000/x") == ("localhost:5000/x", None)
    assert split_image("repo@sha256:abc") == ("repo", None)
    assert repository_name("1.dkr.ecr.r.amazonaws.com/acme/ublog-backend:v1") == "acme/ublog-backend"
    assert repository_name("nginx:1.25") == "nginx"
