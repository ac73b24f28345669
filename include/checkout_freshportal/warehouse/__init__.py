"""The warehouse: schema, migrations, engines, idempotent upserts, the COPY bulk path, report CSV
staging, API object mappers and watermarks. See docs/warehouse.md.

No Airflow and no Checkout.com client here: ``sync`` composes this package with ``checkout``.

The report loader is imported on first use (``load_report_file``, ``ReportLoadResult``): it
brings Apache Arrow, and with it pandas, about 1.5 s of start-up that the sidecar and most CLI
commands, which import this package for the schema and engines, never need.
"""

from typing import TYPE_CHECKING, Any

from checkout_freshportal.warehouse.bulk import copy_merge
from checkout_freshportal.warehouse.engine import is_postgres, make_engine
from checkout_freshportal.warehouse.mappers import MappingError, action_rows, dispute_row, payment_row
from checkout_freshportal.warehouse.migrate import current_revision, head_revision, upgrade
from checkout_freshportal.warehouse.raw import insert_raw_objects
from checkout_freshportal.warehouse.report_csv import (
    ReportColumnsError,
    ReportDuplicateKeyError,
    ReportFileChangedError,
    ReportFormatError,
    ReportLoadError,
    ReportRowsError,
)
from checkout_freshportal.warehouse.schema import metadata
from checkout_freshportal.warehouse.upsert import UpsertResult, upsert
from checkout_freshportal.warehouse.watermarks import (
    get_watermark,
    get_watermark_ts,
    set_watermark,
    set_watermark_ts,
)

if TYPE_CHECKING:
    from checkout_freshportal.warehouse.report_loader import ReportLoadResult, load_report_file

_LAZY = {"ReportLoadResult", "load_report_file"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from checkout_freshportal.warehouse import report_loader

        return getattr(report_loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MappingError",
    "ReportColumnsError",
    "ReportDuplicateKeyError",
    "ReportFileChangedError",
    "ReportFormatError",
    "ReportLoadError",
    "ReportLoadResult",
    "ReportRowsError",
    "UpsertResult",
    "action_rows",
    "copy_merge",
    "current_revision",
    "dispute_row",
    "get_watermark",
    "get_watermark_ts",
    "head_revision",
    "insert_raw_objects",
    "is_postgres",
    "load_report_file",
    "make_engine",
    "metadata",
    "payment_row",
    "set_watermark",
    "set_watermark_ts",
    "upgrade",
    "upsert",
]
