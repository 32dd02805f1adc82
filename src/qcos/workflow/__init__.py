"""The Snakemake workflow's logic: config validation, the batch plan and the batch steps."""

from qcos.workflow.config import validate_config
from qcos.workflow.plan import Batch, Plan

__all__ = ["Batch", "Plan", "validate_config"]
