#!/usr/bin/env bash
# scripts/test.sh - THE test command of rocserv (run it as root on Debian 12).
#
# usage: scripts/test.sh [--no-e2e] [--e2e-only] [--server CMD]
#
#   1. installs missing Debian packages (apt-get, --no-install-recommends;
#      `apt-get update` only when a package is unknown to the local lists;
#      waits for a dpkg lock held by someone else) and checks that cargo exists
#   2. cargo fmt --check, clippy -D warnings, cargo test, release build
#   3. the end-to-end suite tests/e2e/run.sh (root only: network namespaces;
#      without root it fails unless ROCSERV_SKIP_E2E=1)
#   4. a summary; exits non-zero if any step failed
#
#   --no-e2e      skip step 3
#   --e2e-only    skip step 2 (e.g. --e2e-only --server /usr/sbin/ocserv to
#                 check the suite itself against the reference server)
#   --fuzz N      run every cargo-fuzz target for N seconds (default 10; 0 skips;
#                 installs cargo-fuzz with `cargo install` when missing)
#   --no-bench    skip the benchmark smoke run (bench/run.sh --quick, after e2e;
#                 it never fails on timing, only when the harness breaks)
#   --server CMD  server command for tests/e2e/run.sh (default: the release
#                 build, $CARGO_TARGET_DIR or ./target, release/rocserv)
set -uo pipefail
# shellcheck disable=SC2317  # functions are run through step()
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1

E2E=1; CARGO_STEPS=1; SERVER=; FUZZ_SECONDS=10; BENCH=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-e2e) E2E=0 ;;
    --e2e-only) CARGO_STEPS=0 ;;
    --server) SERVER=${2:?--server needs a command}; shift ;;
    --fuzz) FUZZ_SECONDS=${2:?--fuzz needs a number of seconds}; shift ;;
    --no-bench) BENCH=0 ;;
    --server=*) SERVER=${1#*=} ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

PKGS=(openconnect iproute2 iputils-ping iperf3 jq openssl whois libssl-dev pkg-config libcrypt-dev
      procps netcat-openbsd coreutils ca-certificates gcc libc6-dev python3 libpam-oath oathtool passwd)

STEPS=(); RESULTS=(); FAILED=0
record() { # record NAME STATUS(PASS|FAIL|SKIP) SECONDS
  STEPS+=("$1"); RESULTS+=("$2 ($3 s)")
  [ "$2" = FAIL ] && FAILED=1
  echo "== $1: $2"
}
# step NAME CMD...: runs CMD, records PASS/FAIL with its duration
step() {
  local name=$1 t0=$SECONDS rc=0
  shift
  echo "== $name: $*"
  "$@" || rc=$?
  if [ $rc = 0 ]; then record "$name" PASS $((SECONDS - t0)); else record "$name" FAIL $((SECONDS - t0)); fi
}

is_root() { [ "$(id -u)" = 0 ]; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

install_deps() {
  local missing=() p i need_update=0
  command -v dpkg-query >/dev/null || { echo "not a Debian system: install ${PKGS[*]} yourself"; return 1; }
  for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} = 0 ]; then echo "all packages present"; return 0; fi
  echo "missing packages: ${missing[*]}"
  is_root || { echo "not root: cannot install them"; return 1; }
  export DEBIAN_FRONTEND=noninteractive   # iperf3's debconf question -> no daemon
  for p in "${missing[@]}"; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' || need_update=1
  done
  if [ $need_update = 1 ]; then
    for i in $(seq 1 30); do
      apt-get update -q && break
      echo "apt-get update failed (lock held?), retry $i/30 in 10 s"; sleep 10
    done
  fi
  for i in $(seq 1 30); do   # <= ~5 min waiting for a dpkg lock held by another process
    apt-get install -y -q --no-install-recommends "${missing[@]}" && return 0
    echo "apt-get install failed (dpkg lock held by another process?), retry $i/30 in 10 s"
    sleep 10
  done
  return 1
}

have_cargo() {
  command -v cargo >/dev/null && return 0
  echo "cargo not found: install the Rust toolchain (https://rustup.rs, rust >= 1.85) and rerun"
  return 1
}

# fuzz smoke: every target of fuzz/ for FUZZ_SECONDS (stable toolchain: RUSTC_BOOTSTRAP for
# the sanitizer flags cargo-fuzz passes). A crash fails the step and leaves the input in
# fuzz/artifacts/.
fuzz_smoke() {
  local t
  if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked || return 1
  fi
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -O) || return 1
  for t in $(cd fuzz && cargo fuzz list); do
    echo "-- fuzz $t (${FUZZ_SECONDS} s)"
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" -- -max_total_time="$FUZZ_SECONDS" 2>&1 | tail -n 3) || return 1
  done
}

e2e() {
  local server=${SERVER:-${CARGO_TARGET_DIR:-$REPO/target}/release/rocserv}
  tests/e2e/run.sh --server "$server"
}

T0=$SECONDS
step "debian packages" install_deps
if [ $CARGO_STEPS = 1 ]; then
  step "cargo present" have_cargo
  if have_cargo >/dev/null; then
    step "cargo fmt --check" cargo fmt --all -- --check
    step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
    step "cargo test" cargo test --workspace
    step "cargo build --release" cargo build --release -p rocserv
    if [ "$FUZZ_SECONDS" != 0 ]; then step "fuzz smoke (${FUZZ_SECONDS} s/target)" fuzz_smoke; fi
  fi
fi
if [ $E2E = 1 ]; then
  if is_root; then
    step "e2e (tests/e2e/run.sh)" e2e
    if [ "$BENCH" = 1 ]; then step "bench smoke (bench/run.sh --quick)" bench/run.sh --quick; fi
  elif [ "${ROCSERV_SKIP_E2E:-0}" = 1 ]; then
    echo "e2e needs root (network namespaces); skipped because ROCSERV_SKIP_E2E=1"
    record "e2e (tests/e2e/run.sh)" SKIP 0
  else
    echo "e2e needs root (network namespaces): rerun as root, or set ROCSERV_SKIP_E2E=1 to skip it"
    record "e2e (tests/e2e/run.sh)" FAIL 0
  fi
fi

echo
echo "==================== summary ($((SECONDS - T0)) s) ===================="
for i in "${!STEPS[@]}"; do printf '  %-28s %s\n' "${STEPS[$i]}" "${RESULTS[$i]}"; done
if [ $FAILED = 0 ]; then echo "test.sh: all steps passed"; else echo "test.sh: FAILED"; fi
exit $FAILED
