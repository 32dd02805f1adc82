"""Slurm provider settings: validation, submitit parameters, sbatch scripts, LUMI defaults."""

from __future__ import annotations

import pytest

from qcos.exceptions import ClusterBuildError, ProviderError, SlurmConfigError
from qcos.providers.cluster import ClusterBuilder
from qcos.providers.lumi import LUMI_SETUP, LumiAMDGPUProvider
from qcos.providers.registry import NodeProviderRegistry
from qcos.providers.slurm.provider import SlurmProvider
from qcos.providers.slurm.settings import SlurmSettings
from qcos.workers import simulator


def test_registry_resolves_the_slurm_providers() -> None:
    assert NodeProviderRegistry.get("slurm") is SlurmProvider
    assert NodeProviderRegistry.get("lumi_amd_gpu") is LumiAMDGPUProvider


def test_unknown_submitit_parameter_lists_the_valid_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SlurmConfigError) as info:
        SlurmSettings(folder=str(tmp_path), slurm_extra={"gpus_per_dog": 2})
    message = str(info.value)
    assert "gpus_per_dog" in message and "Valid parameters are" in message
    assert "partition" in message and "gres" in message
    assert isinstance(info.value, ProviderError) and isinstance(info.value, ValueError)


def test_unknown_build_argument_lists_valid_arguments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClusterBuildError) as info:
        ClusterBuilder().add("slurm", executor="debug", folder=str(tmp_path), partitoin="gpu").build()
    assert "partitoin" in str(info.value) and "circuits_per_task" in str(info.value)


def test_bad_slurm_extra_fails_the_cluster_build(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClusterBuildError, match="Valid parameters are"):
        ClusterBuilder().add("slurm", executor="local", folder=str(tmp_path), slurm_extra={"bogus": 1}).build()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("executor", "pbs", "slurm, local, debug"),
        ("circuits_per_task", 0, "circuits_per_task"),
        ("max_retries", -1, "max_retries"),
        ("aer_device", "TPU", "GPU, CPU"),
        ("mem_gb", -2, "mem_gb"),
    ],
)
def test_invalid_values_are_named(tmp_path, field: str, value: object, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SlurmConfigError, match=words):
        SlurmSettings(folder=str(tmp_path), **{field: value})  # type: ignore[arg-type]


def test_sbatch_script_for_an_nvidia_cluster(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = SlurmSettings(
        folder=str(tmp_path), partition="gpu", account="proj42", time_min=45, mem_gb=16, gres="gpu:1",
        setup=["module load cuda", "source venv/bin/activate"], slurm_extra={"qos": "normal"},
    )
    script = settings.sbatch_script()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=proj42", "#SBATCH --time=45",
                 "#SBATCH --mem=16GB", "#SBATCH --gres=gpu:1", "#SBATCH --qos=normal",
                 "#SBATCH --ntasks-per-node=1", "module load cuda", "source venv/bin/activate"):
        assert line in script, line
    assert settings.device == "GPU"  # asked for a GPU: Aer runs on it unless told otherwise
    assert settings.task_aer_options()["device"] == "GPU"


def test_cpu_only_settings_run_aer_on_cpu(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = SlurmSettings(folder=str(tmp_path), partition="cpu", cpus_per_task=4)
    assert settings.device == "CPU"
    assert settings.task_aer_options() == {"device": "CPU", "max_parallel_threads": 4}
    forced = SlurmSettings(folder=str(tmp_path), gpus_per_task=1, aer_device="cpu")
    assert forced.device == "CPU" and "#SBATCH --gpus-per-task=1" in forced.sbatch_script()


def test_unknown_aer_option_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = SlurmSettings(folder=str(tmp_path), aer_options={"metod": "statevector"})
    with pytest.raises(ProviderError, match="metod"):
        settings.task_aer_options()


def test_nodes_are_task_slots_with_large_pulls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = SlurmProvider()
    try:
        nodes = provider.build_nodes(n_nodes=3, executor="debug", folder=str(tmp_path), max_qubits=20)
        assert [n.node_id for n in nodes] == ["slurm-0", "slurm-1", "slurm-2"]
        assert all(n.capacity == 1 and n.weight == 6.0 and n.max_qubits == 20 for n in nodes)
        assert provider.settings is not None and provider.settings.array_parallelism == 3
        assert nodes[0].options["executor"] == "debug" and "slurm" in nodes[0].tags
        assert provider.health_check()
    finally:
        provider.close()


def test_lumi_provider_makes_one_node_per_gpu_die(tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = LumiAMDGPUProvider()
    try:
        nodes = provider.build_nodes(n_nodes=2, executor="local", aer_device="CPU", folder=str(tmp_path))
        assert len(nodes) == 16 and nodes[0].node_id == "lumi-gpu-0" and nodes[-1].node_id == "lumi-gpu-15"
        assert all(n.max_qubits == 34 and "lumi" in n.tags for n in nodes)
        settings = provider.settings
        assert settings is not None and settings.array_parallelism == 16 and settings.setup == LUMI_SETUP
        script = settings.sbatch_script()
        for line in ("#SBATCH --partition=small-g", "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=7",
                     "#SBATCH --mem=60GB", "module load rocm"):
            assert line in script, line
    finally:
        provider.close()


def test_lumi_needs_an_account_and_valid_die_count(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SlurmConfigError, match="account"):
        LumiAMDGPUProvider().build_nodes(n_nodes=1, folder=str(tmp_path))
    with pytest.raises(SlurmConfigError, match="gpus_per_node"):
        LumiAMDGPUProvider().build_nodes(gpus_per_node=9, executor="local", folder=str(tmp_path))


def test_local_executor_asking_for_gpu_without_gpu_build_fails_at_build(tmp_path) -> None:  # type: ignore[no-untyped-def]
    available, _ = simulator.gpu_status()
    if available:
        pytest.skip("this machine has a GPU-enabled Aer")
    with pytest.raises(SlurmConfigError, match="aer_device='CPU'"):
        SlurmProvider().build_nodes(executor="local", gpus_per_task=1, folder=str(tmp_path))


def _fake_slurm(tmp_path, monkeypatch, sbatch_stderr: str) -> None:  # type: ignore[no-untyped-def]
    """Stand-in sbatch/srun/sinfo on PATH (a unit test of the error paths; the real Slurm is in integration)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\necho '{sbatch_stderr}' >&2\nexit 1\n")
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sinfo").write_text("#!/bin/sh\necho 'sinfo: error: Unable to contact slurm controller' >&2\nexit 1\n")
    for name in ("sbatch", "srun", "sinfo"):
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def test_partition_rejected_by_sbatch_fails_the_build_with_slurms_message(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _fake_slurm(tmp_path, monkeypatch, "sbatch: error: invalid partition specified: gpuu")
    with pytest.raises(ClusterBuildError) as info:
        ClusterBuilder().add("slurm", partition="gpuu", folder=str(tmp_path / "f")).build()
    assert "partition='gpuu'" in str(info.value) and "invalid partition specified: gpuu" in str(info.value)


def test_unreachable_slurm_marks_nodes_offline_instead_of_failing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _fake_slurm(tmp_path, monkeypatch, "sbatch: error: Unable to contact slurm controller (connect failure)")
    with ClusterBuilder().add("slurm", partition="gpu", n_nodes=2, folder=str(tmp_path / "f")).build() as registry:
        assert [node.online for node in registry.nodes] == [False, False]
        assert "Unable to contact slurm controller" in (registry.nodes[0].offline_reason or "")


def test_max_array_size_comes_from_scontrol_show_config() -> None:
    from qcos.providers.slurm.site import parse_max_array_size

    text = "Configuration data as of ...\nMaxArraySize            = 1001\nMaxJobCount             = 10000\n"
    assert parse_max_array_size(text) == 1001
    assert parse_max_array_size("MaxJobCount = 5\n") is None


def test_the_submitit_parameter_list_matches_the_installed_submitit() -> None:
    from submitit.slurm import (
        slurm as submitit_slurm,  # private, used here only to guard our copy against drift
    )

    from qcos.providers.slurm.sbatch import SUBMITIT_SLURM_PARAMETERS

    assert dict(SUBMITIT_SLURM_PARAMETERS) == submitit_slurm._get_default_parameters()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"partition": "gpu", "account": "proj42", "time_min": 45, "mem_gb": 16, "gres": "gpu:1",
         "setup": ["module load cuda"], "slurm_extra": {"qos": "normal", "constraint": "a100"}},
        {"partition": "standard-g", "gpus_per_node": 8, "cpus_per_task": 56, "mem_gb": 1.5,
         "slurm_extra": {"exclusive": True, "mem": "0", "additional_parameters": {"mail-type": "END"}}},
        {"cpus_per_task": 4, "slurm_extra": {"signal_delay_s": 30, "wckey": "", "comment": "a b"}},
    ],
)
def test_our_sbatch_lines_are_the_ones_submitit_writes(tmp_path, kwargs) -> None:  # type: ignore[no-untyped-def]
    from submitit.slurm import (
        slurm as submitit_slurm,  # private: the reference our rendering must equal
    )

    settings = SlurmSettings(folder=str(tmp_path), **kwargs)
    theirs = submitit_slurm._make_sbatch_string(command="true", folder=str(settings.jobs_folder),
                                                **settings.slurm_parameters())
    paths = ("--output", "--error", "--open-mode")
    expected = [line for line in theirs.splitlines() if line.startswith("#SBATCH") and not line.startswith(
        tuple(f"#SBATCH {p}" for p in paths))]
    ours = [line for line in settings.sbatch_script().splitlines() if line.startswith("#SBATCH")]
    assert ours == expected
    assert all(line in settings.sbatch_script() for line in kwargs.get("setup", []))


def test_provider_arguments_are_the_fields_of_their_options() -> None:
    from qcos.providers.cluster import accepted_arguments

    slurm, lumi = accepted_arguments(SlurmProvider), accepted_arguments(LumiAMDGPUProvider)
    assert slurm is not None and lumi is not None
    assert set(slurm) == {
        "n_nodes", "partition", "account", "time_min", "mem_gb", "cpus_per_task", "gpus_per_task",
        "gpus_per_node", "gres", "max_qubits", "setup", "slurm_extra", "folder", "executor",
        "circuits_per_task", "array_parallelism", "max_retries", "aer_device", "aer_options", "job_name",
        "progress", "poll_s", "gather_s", "reuse_results", "python", "max_array_size", "weight", "tags",
        "id_prefix", "validate"}
    assert set(lumi) == {
        "gpus", "partition", "account", "container", "container_bind", "n_nodes", "gpus_per_node", "time_min",
        "mem_gb", "cpus_per_task", "max_qubits", "setup", "slurm_extra", "folder", "executor",
        "circuits_per_task", "max_retries", "aer_device", "aer_options", "job_name", "progress", "poll_s",
        "reuse_results", "python", "max_array_size", "tags", "validate"}
    assert (slurm["n_nodes"].default, slurm["max_qubits"].default, slurm["job_name"].default) == (1, 30, "qcos")
    assert (lumi["partition"].default, lumi["max_qubits"].default, lumi["poll_s"].default) == ("small-g", 34, 5.0)
    assert list(lumi)[0] == "gpus" and list(slurm)[0] == "n_nodes"  # each provider's own arguments first


def test_a_direct_call_with_an_unknown_argument_lists_the_valid_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SlurmConfigError, match=r"(?s)\['partitoin'\].*Valid arguments are.*- partition"):
        SlurmProvider().build_nodes(executor="debug", folder=str(tmp_path), partitoin="gpu")
    with pytest.raises(SlurmConfigError, match="n_nodes must be a positive integer"):
        SlurmProvider().build_nodes(executor="debug", folder=str(tmp_path), n_nodes=0)
