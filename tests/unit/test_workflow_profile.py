"""The cluster belongs to the profile: found from --profile, kept under --config, conflicts refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qcos.exceptions import ConfigError
from qcos.workflow.clusterinfo import cluster_gpus, sbatch_lines
from qcos.workflow.profile import choose_cluster, profile_arguments

DEFAULT = [{"provider": "local_cpu", "n_nodes": 2}]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles" / "hpc"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("cores: 2\n")
    (folder / "cluster.yaml").write_text(yaml.safe_dump({"cluster": [{"provider": "slurm", "n_nodes": 2}]}))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"cluster": DEFAULT}))
    return folder


def test_profile_arguments_in_both_spellings() -> None:
    assert profile_arguments(["snakemake", "--profile", "a", "-n", "--profile=b"]) == ["a", "b"]
    assert profile_arguments(["snakemake", "-n"]) == []


def test_the_profile_cluster_survives_a_replaced_config(profile: Path, tmp_path: Path) -> None:
    config = {"cluster": list(DEFAULT), "shots": 300}  # what --config shots=300 leaves: the default cluster
    choice = choose_cluster(config, argv=["snakemake", "--profile", str(profile)],
                            default_config=tmp_path / "config.yaml", environ={})
    assert choice.source == "profile" and config["cluster_file"] == str(profile.resolve() / "cluster.yaml")


def test_the_profile_from_the_environment_counts_too(profile: Path, tmp_path: Path) -> None:
    config: dict = {}
    choice = choose_cluster(config, argv=["snakemake"], default_config=tmp_path / "config.yaml",
                            environ={"SNAKEMAKE_PROFILE": str(profile)})
    assert choice.source == "profile"


def test_an_explicit_cluster_file_is_kept(profile: Path, tmp_path: Path) -> None:
    config = {"cluster_file": "other.yaml"}
    choice = choose_cluster(config, argv=["snakemake", "--profile", str(profile)],
                            default_config=tmp_path / "config.yaml", environ={})
    assert choice.source == "cluster_file" and config["cluster_file"] == "other.yaml"


def test_a_config_naming_another_cluster_stops_instead_of_dispatching_elsewhere(profile: Path, tmp_path: Path) -> None:
    config = {"cluster": [{"provider": "local_cpu", "n_nodes": 8}]}
    with pytest.raises(ConfigError, match=r"config: cluster: .*profile .*hpc.*cluster_file"):
        choose_cluster(config, argv=["snakemake", "--profile", str(profile)],
                       default_config=tmp_path / "config.yaml", environ={})


def test_no_profile_keeps_the_config_cluster(tmp_path: Path) -> None:
    config = {"cluster": list(DEFAULT)}
    assert choose_cluster(config, argv=["snakemake"], default_config=tmp_path / "c.yaml", environ={}).source == "config"
    assert "cluster_file" not in config


def test_gpu_resources_of_a_dispatch_job() -> None:
    assert cluster_gpus([{"provider": "lumi_amd_gpu", "gpus": 16, "partition": "standard-g"}]) == 16
    assert cluster_gpus([{"provider": "lumi_amd_gpu", "n_nodes": 2, "gpus_per_node": 4}]) == 8
    assert cluster_gpus([{"provider": "lumi_amd_gpu", "gpus": 8, "aer_device": "CPU"}]) == 0
    assert cluster_gpus([{"provider": "slurm", "n_nodes": 3, "gpus_per_task": 2}, {"provider": "local_cpu"}]) == 6
    assert cluster_gpus([{"provider": "local_cpu", "n_nodes": 4}]) == 0


def test_standard_g_is_whole_nodes_with_gcd_bound_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBATCH_ACCOUNT", "project_465000001")
    lines = sbatch_lines({"provider": "lumi_amd_gpu", "partition": "standard-g", "gpus": 16})
    for expected in ("#SBATCH --account=project_465000001", "#SBATCH --gpus-per-node=8", "#SBATCH --exclusive",
                     "#SBATCH --cpus-per-task=56", "#SBATCH --array=0-<tasks-1>%2", "ROCR_VISIBLE_DEVICES"):
        assert any(expected in line for line in lines), (expected, lines)
    with pytest.raises(ConfigError, match="multiple of 8"):
        sbatch_lines({"provider": "lumi_amd_gpu", "partition": "standard-g", "gpus": 12})
