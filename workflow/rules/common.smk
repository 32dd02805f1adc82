# Validate the config (schema + qcos checks, defaults filled), build the typed settings and
# plan the batches, once, at parse time. Batches reach the rules as one {batch} wildcard.
# The cluster comes from the profile (its cluster.yaml), so --config/--configfile keep it.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from qcos.workflow.clusterinfo import cluster_gpus, describe
from qcos.workflow.config import validate_config
from qcos.workflow.plan import BATCH_PATTERN, Plan
from qcos.workflow.preflight import check_against_cluster
from qcos.workflow.profile import choose_cluster
from qcos.workflow.settings import RunSettings

_cluster_choice = choose_cluster(
    config, argv=sys.argv, default_config="config/config.yaml"
)
_validated = validate_config(
    config, Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml"
)
config.clear()
config.update(_validated)
print(
    "\n".join(describe(config["cluster"], _cluster_choice.describe())), file=sys.stderr
)
DISPATCH_GPUS = cluster_gpus(config["cluster"])

SETTINGS = RunSettings.from_config(config)
PLAN = Plan.from_config(config)
check_against_cluster(
    config, PLAN.specs, SETTINGS.transpile.basis_gates, widths=PLAN.spec_widths
)
ENV = "../../envs/qcos.yaml"


wildcard_constraints:
    batch=BATCH_PATTERN,


def final_outputs():
    """The final products: collected index, tables, plots, provenance, and every batch table
    (so a deleted batch table is redone even when the summary is up to date)."""
    return [
        *PLAN.all_paths("table"),
        f"{PLAN.root}/collected.json",
        f"{PLAN.root}/summary.csv",
        f"{PLAN.root}/runtimes.csv",
        f"{PLAN.root}/provenance.json",
        *plot_paths().values(),
    ]


def plot_paths():
    return {
        name: f"{PLAN.root}/plots/{name}.png"
        for name in (
            "fidelity",
            "top_outcome",
            "runtime",
            "parameters",
            "qaoa_landscape",
            "ideal_vs_measured",
        )
    }


def batch_specs(wildcards):
    return PLAN.batch(wildcards.batch).spec_dicts()


def batch_sources(wildcards):
    return PLAN.sources(wildcards.batch)


def dispatch_threads(wildcards):
    """The dispatch job's cores: its local nodes, or a share of --cores for wide circuits."""
    try:
        cores = workflow.cores
    except WorkflowError:  # no --cores (e.g. a dry run): the nodes' own count
        cores = None
    return SETTINGS.dispatch_threads(
        width=PLAN.width(wildcards.batch), cores=cores, batches=len(PLAN)
    )
