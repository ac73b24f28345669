"""Data quality of the staged data reconciliation reads (docs/data-quality.md).

Great Expectations 1.x validates in the warehouse (SQL pushed down); it is imported only when
:func:`run_quality` runs, never when this package is imported (the import costs seconds and DAG
files are parsed often).
"""

from checkout_freshportal.reconcile.quality.checks import CRITICAL, WARNING, Check, build_checks
from checkout_freshportal.reconcile.quality.gx_runner import QualitySuiteError
from checkout_freshportal.reconcile.quality.service import (
    CheckResult,
    DataQualityFailed,
    QualityResult,
    run_quality,
)
from checkout_freshportal.reconcile.quality.settings import QualitySettings

__all__ = [
    "CRITICAL",
    "WARNING",
    "Check",
    "CheckResult",
    "DataQualityFailed",
    "QualityResult",
    "QualitySettings",
    "QualitySuiteError",
    "build_checks",
    "run_quality",
]
