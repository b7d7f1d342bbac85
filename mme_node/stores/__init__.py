"""Patient storage: the :class:`PatientStore` protocol and the embedded SQLite store.

The Elasticsearch store lives in :mod:`mme_node.stores.elastic` and is
imported only when configured, so the optional client stays optional.
"""

from mme_node.stores.base import (
    ImportReport,
    Page,
    PatientStore,
    ProgressCallback,
    Rejection,
    StoreHealth,
)
from mme_node.stores.sqlite import SQLitePatientStore

__all__ = [
    "ImportReport",
    "Page",
    "PatientStore",
    "ProgressCallback",
    "Rejection",
    "SQLitePatientStore",
    "StoreHealth",
]
