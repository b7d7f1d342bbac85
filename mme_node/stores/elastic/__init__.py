"""The Elasticsearch patient store, for nodes whose patients live in a cluster.

One module per job: :mod:`~mme_node.stores.elastic.store` is the store itself;
:mod:`~mme_node.stores.elastic.mapping` what it writes (index names, mapping,
documents); :mod:`~mme_node.stores.elastic.queries` the searches it sends;
:mod:`~mme_node.stores.elastic.requests` deadlines, retries and backoff;
:mod:`~mme_node.stores.elastic.writes` document writes applied once;
:mod:`~mme_node.stores.elastic.swap` the HPO release swap; and
:mod:`~mme_node.stores.elastic.errors` how Elasticsearch failures become the
node's errors.

Importing this package needs the optional client
(``pip install 'mme-node[elasticsearch]'``); the node imports it only when
configured to use Elasticsearch.
"""

from mme_node.stores.elastic.store import (
    ElasticsearchPatientStore,
    TermWeights,
    connect,
    elasticsearch_store_from_settings,
)

__all__ = [
    "ElasticsearchPatientStore",
    "TermWeights",
    "connect",
    "elasticsearch_store_from_settings",
]
