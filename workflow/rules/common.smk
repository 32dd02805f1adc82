# Validate the config (schema + qcos checks, defaults filled) and plan the batches, at parse time.
from pathlib import Path

from qcos.workflow.config import validate_config
from qcos.workflow.plan import Plan

_validated = validate_config(
    config, Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml"
)
config.clear()
config.update(_validated)

PLAN = Plan.from_config(config)
ENV = "../../envs/qcos.yaml"


def final_outputs():
    """The final products: collected index, tables, plots, provenance, and every counts
    file (so a deleted counts file is redone even when the summary is up to date)."""
    return [
        *PLAN.all_counts(),
        f"{PLAN.root}/collected.json",
        f"{PLAN.root}/summary.csv",
        f"{PLAN.root}/runtimes.csv",
        f"{PLAN.root}/provenance.json",
        *plot_paths().values(),
    ]


def plot_paths():
    return {
        name: f"{PLAN.root}/plots/{name}.png"
        for name in ("fidelity", "top_outcome", "runtime")
    }
