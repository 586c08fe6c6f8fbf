#!/usr/bin/env bash
# Installs everything Capsule's demo and tests need on a fresh Debian 12 machine, then the npm
# dependencies. Idempotent: a second run installs nothing new. Called by scripts/demo.sh,
# scripts/test.sh and .ci/run; needs root for the system packages (skipped with a note otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: test oracles (tshark, openssl, llvm-objdump, qemu-riscv32, javac), toolchains
# for the RISC-V conformance programs (clang, lld, GNU binutils), the lab's tools (iproute2,
# iperf3, ping, curl), a PostgreSQL server for the store tests, Chromium for console tests,
# promtool (Debian's prometheus package) to lint the daemons' /metrics, zsh for the completion
# script's test, GNU time for the CLI start-up benchmark's CPU times, g++ and make for the native
# addons (node-gyp) and the engine bench's UDP tool, libsodium-dev for the native addon's Ed25519
# verification and link tags (binding.gyp builds with OpenSSL's without it).
apt_packages=(
  ca-certificates openssl iproute2 iputils-ping curl procps psmisc python3
  tshark tcpdump ndisc6 socat iperf3 nebula wireguard-go wireguard-tools
  clang lld llvm qemu-user binutils-riscv64-unknown-elf
  openjdk-17-jdk-headless
  postgresql chromium
  prometheus zsh time libsodium-dev pkg-config g++ make
)

missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: not root, so not installing ${missing[*]} (tests that need them will skip)"
  fi
fi

# Native addons (better-sqlite3, packages/native) build against the local Node headers: never fetch.
export npm_config_nodedir="$(dirname "$(dirname "$(command -v node)")")"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json || -n "${CI:-}" ]]; then
  echo "setup: npm ci"
  npm ci --no-fund --no-audit --loglevel=error
fi

# --- PostgreSQL for the controller's store tests (issue 5) ---------------------------------------
# Starts Debian's cluster and creates the role and database the tests use
# (CAPSULE_TEST_POSTGRES_URL, default postgres://capsule:capsule@127.0.0.1:5432/capsule). As root
# only; without root the PostgreSQL suites skip (and fail under CI).
if [[ $(id -u) -eq 0 ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
  if [[ -n "$pg_version" ]]; then
    pg_ctlcluster "$pg_version" main start 2>/dev/null || true
    for _ in $(seq 1 30); do
      su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
      sleep 0.5
    done
    su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname = 'capsule'\"" | grep -q 1 ||
      su postgres -c "psql -qc \"create role capsule login createdb password 'capsule'\""
    su postgres -c "psql -qtAc \"select 1 from pg_database where datname = 'capsule'\"" | grep -q 1 ||
      su postgres -c "createdb -O capsule capsule"
    echo "setup: PostgreSQL $pg_version running (role capsule)"
  fi
fi
