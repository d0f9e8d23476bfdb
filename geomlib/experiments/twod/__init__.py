"""The two-dimensional experiments (SPEC F1-F3): settings per profile, runs, geometry on grids,
the infinite-width baseline and the chapters' figures. ``python -m geomlib.twod --profile paper``
runs a profile outside the book and saves the committed showcase."""
from .baseline import symmetric_log10_volume, symmetric_sigmoid_metric
from .experiment import SETTINGS, Settings, delta_table, run, run_all, settings, showcase_payload
from .measure import delta_fields, hidden_layers, snapshot_fields

__all__ = ["SETTINGS", "Settings", "delta_fields", "delta_table", "hidden_layers", "run", "run_all", "settings",
           "showcase_payload", "snapshot_fields", "symmetric_log10_volume", "symmetric_sigmoid_metric"]
