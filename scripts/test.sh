#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs
#   1. the Hardhat contract tests, the NIST ML-DSA-65 vectors on chain and the JavaScript verifier's unit tests,
#      (Debian's chromium and postgresql are installed first when missing: the browser tests and part 3 need them)
#   2. pytest on SQLite against the embedded chain (py-evm), a Hardhat node (EDR) and anvil (revm), the browser
#      tests in Chromium included,
#   3. the store and API tests again on a real PostgreSQL server started on loopback (embedded chain).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {  # Debian packages the tests need, when missing (CI runs as root on a fresh machine)
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >/dev/null
  else
    echo "$* not installed and this is not root: install the Debian package(s) $*" >&2
    exit 1
  fi
}
command -v chromium >/dev/null 2>&1 || apt_install chromium  # the web app's end-to-end tests (Playwright drives it)

python3 -m venv .venv
.venv/bin/pip install -q -e ".[test]"
npm ci --no-audit --no-fund
npx hardhat test
npx hardhat run scripts/mldsa-gas.js  # all 100 NIST ML-DSA-65 vectors through the on-chain verifier; fails unless all pass
node --test js/verifier/test/
# Two pytest processes, each test file kept whole in one (its module fixtures set up once): one process left this
# machine's two cores half idle while tests waited on chains, servers and the browser (22 min 49 s on one process,
# 14 min 43 s on two). Each process starts its own Hardhat and anvil nodes.
PYTEST_PROCESSES=(-n 2 --dist loadfile)
.venv/bin/python -m pytest "${PYTEST_PROCESSES[@]}"

# PostgreSQL: the Debian package, a cluster of our own on a free loopback port, removed afterwards. The store-facing
# tests run again there, on the embedded chain only: the store sees the same reads and writes whichever chain
# anchors, and Hardhat's share (36% of this part's test time, 158 of 436 s) kept CI near its 45 minutes.
command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
PG_VERSION=$(ls /usr/lib/postgresql | sort -n | tail -1)
PG_PORT=$(.venv/bin/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
PG_CLUSTER="bindaas$$"
pg_createcluster -q "$PG_VERSION" "$PG_CLUSTER" -p "$PG_PORT" -- --auth=trust >/dev/null
trap 'pg_dropcluster --stop "$PG_VERSION" "$PG_CLUSTER" >/dev/null 2>&1 || true' EXIT
pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start -- -o "-c listen_addresses=127.0.0.1"
BINDAAS_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres" \
  .venv/bin/python -m pytest "${PYTEST_PROCESSES[@]}" -m "not anvil and not hardhat" tests/test_record_roundtrip.py tests/test_verify_tamper.py \
  tests/test_bad_input.py tests/test_endorsement_policy.py tests/test_revocation.py tests/test_chain_outage.py \
  tests/test_crash_recovery.py tests/test_predict_api.py tests/test_signin.py tests/test_consent_gates_reads.py \
  tests/test_audit_trail.py tests/test_owner_binding.py tests/test_store_completeness.py tests/test_streaming_import.py \
  tests/test_imaging_records.py tests/test_hardening.py tests/test_sealed_groups.py tests/test_anchorers_share_a_store.py
