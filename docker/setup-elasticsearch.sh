#!/usr/bin/env bash
# One-shot set-up of the Elasticsearch cluster the node uses. Safe to run again.
#
#  1. waits until Elasticsearch answers;
#  2. creates (or updates) the role "mme_node", allowed on the patient indexes and
#     their aliases (${INDEX_PREFIX}-*) only, and nothing on the cluster;
#  3. creates (or updates) the user the node logs in as, with that role only;
#  4. puts an index template giving new patient indexes their shards and replicas.
#
# Runs as the "elastic" superuser, whose password it never passes on.
#
# Environment:
#   ELASTIC_PASSWORD              password of the "elastic" superuser (required)
#   MME_ELASTICSEARCH_PASSWORD    password to give the node's user (required)
#   MME_ELASTICSEARCH_USERNAME    the node's user name (default mme_node)
#   ES_URL                        where Elasticsearch answers (default http://elasticsearch:9200)
#   INDEX_PREFIX                  the node's index prefix (default mme-patients)
#   PATIENT_SHARDS                primary shards of a patient index (default 1)
#   PATIENT_REPLICAS              replicas of each shard (default 0: a single node has no peer)
set -euo pipefail

ES_URL=${ES_URL:-http://elasticsearch:9200}
INDEX_PREFIX=${INDEX_PREFIX:-mme-patients}
NODE_USER=${MME_ELASTICSEARCH_USERNAME:-mme_node}
PATIENT_SHARDS=${PATIENT_SHARDS:-1}
PATIENT_REPLICAS=${PATIENT_REPLICAS:-0}

fail() {
    echo "setup-elasticsearch: $*" >&2
    exit 1
}

[[ -n ${ELASTIC_PASSWORD:-} ]] || fail "ELASTIC_PASSWORD is not set (see docker/.env.example)"
[[ -n ${MME_ELASTICSEARCH_PASSWORD:-} ]] || fail "MME_ELASTICSEARCH_PASSWORD is not set (see docker/.env.example)"
(( ${#MME_ELASTICSEARCH_PASSWORD} >= 12 )) || fail "MME_ELASTICSEARCH_PASSWORD needs at least 12 characters"

# A string as a JSON string literal (backslashes and double quotes escaped).
json_string() {
    local text=${1//\\/\\\\}
    printf '"%s"' "${text//\"/\\\"}"
}

# es METHOD PATH [BODY]: one request as "elastic"; any answer but 2xx stops the script.
es() {
    local method=$1 path=$2 body=${3-} answer status
    answer=$(mktemp)
    status=$(curl --silent --show-error --output "$answer" --write-out '%{http_code}' \
        --user "elastic:${ELASTIC_PASSWORD}" --request "$method" \
        --header 'Content-Type: application/json' \
        ${body:+--data-binary "$body"} "${ES_URL}${path}") || status=000
    if [[ $status != 2* ]]; then
        echo "setup-elasticsearch: $method $path answered $status: $(cat "$answer")" >&2
        rm -f "$answer"
        return 1
    fi
    rm -f "$answer"
}

echo "setup-elasticsearch: waiting for ${ES_URL}"
for attempt in $(seq 1 60); do
    if es GET "/_cluster/health?wait_for_status=yellow&timeout=5s" 2>/dev/null; then
        break
    fi
    (( attempt < 60 )) || fail "Elasticsearch did not answer at ${ES_URL} within two minutes"
    sleep 2
done

echo "setup-elasticsearch: role mme_node on ${INDEX_PREFIX}-*"
es PUT "/_security/role/mme_node" "{
  \"cluster\": [],
  \"indices\": [
    {
      \"names\": [\"${INDEX_PREFIX}-*\"],
      \"privileges\": [\"create_index\", \"manage\", \"read\", \"write\", \"view_index_metadata\"]
    }
  ]
}"

echo "setup-elasticsearch: user ${NODE_USER}"
es PUT "/_security/user/${NODE_USER}" "{
  \"password\": $(json_string "$MME_ELASTICSEARCH_PASSWORD"),
  \"roles\": [\"mme_node\"],
  \"full_name\": \"Matchmaker Exchange node\"
}"

echo "setup-elasticsearch: index template ${INDEX_PREFIX} (${PATIENT_SHARDS} shards, ${PATIENT_REPLICAS} replicas)"
es PUT "/_index_template/${INDEX_PREFIX}" "{
  \"index_patterns\": [\"${INDEX_PREFIX}-*\"],
  \"priority\": 100,
  \"template\": {
    \"settings\": {
      \"number_of_shards\": ${PATIENT_SHARDS},
      \"number_of_replicas\": ${PATIENT_REPLICAS}
    }
  }
}"

echo "setup-elasticsearch: done"
