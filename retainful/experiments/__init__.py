"""A/B experiments over automation steps: variants, stable assignment, the sequential winner rule (stats.py)."""
from retainful.experiments.service import (ExperimentConflict, apply_winner, create, describe, evaluate,
                                           evaluate_running, get, list_for, running_by_subject, stop, variant_for,
                                           variant_source)

__all__ = ["ExperimentConflict", "apply_winner", "create", "describe", "evaluate", "evaluate_running", "get",
           "list_for", "running_by_subject", "stop", "variant_for", "variant_source"]
