#!/usr/bin/env bash
# The native addon's tests again, against a build of it with AddressSanitizer and
# UndefinedBehaviorSanitizer (GCC's): the addon's C++ reads datagrams and packets from the underlay,
# from tenants and from TUN devices, and runs programs; a read or write out of bounds, a use after
# free or undefined behaviour there stops the test process with a report instead of passing by luck.
# Part of the README's test command (scripts/test.sh, after `npm test`); `npm run test:sanitizers`.
#
# The build goes to a directory of its own (the package's build stays as it is) and the tests load
# it through CAPSULE_NATIVE_ADDON; the sanitizers' runtimes are preloaded into Node, which is not
# built with them. Outside CI a missing compiler or runtime skips with the reason; in CI it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
  if [[ -n "${CI:-}" ]]; then
    echo "sanitizers: $1 (needed in CI)" >&2
    exit 1
  fi
  echo "sanitizers: skipped: $1"
  exit 0
}
command -v g++ >/dev/null || skip "no g++"
command -v node-gyp >/dev/null || skip "no node-gyp on PATH (run it as npm run test:sanitizers)"
asan=$(g++ -print-file-name=libasan.so)
ubsan=$(g++ -print-file-name=libubsan.so)
[[ -f "$asan" && -f "$ubsan" ]] || skip "no libasan or libubsan (Debian's libgcc-12-dev, which g++ brings)"

# The test files that reach the addon's C++: the UDP and TUN paths (offloads, GSO/GRO), the payload
# cipher, the engine's and agents' fast paths with their hostile-input fuzz, the native VM tier.
files=(
  packages/native/test
  test/engine/fast-path.test.ts
  test/engine/fast-path-program.test.ts
  packages/agent/src/fast-path.test.ts
  packages/vm/test/sandbox.test.ts
  packages/vm/test/property.test.ts
  packages/vm/test/conformance.test.ts
)

work=$(mktemp -d /tmp/capsule-sanitize.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r packages/native/binding.gyp packages/native/addon "$work/"
echo "sanitizers: building the addon with -fsanitize=address,undefined in $work"
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
(
  cd "$work"
  export NODE_PATH="$OLDPWD/node_modules" # binding.gyp asks node for node-addon-api's headers
  export npm_config_nodedir="$(dirname "$(dirname "$(command -v node)")")"
  CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" node-gyp rebuild >"$work/build.log" 2>&1 ||
    { tail -30 "$work/build.log" >&2; echo "sanitizers: the build failed" >&2; exit 1; }
)
addon="$work/build/Release/capsule_native.node"
ldd "$addon" | grep -q libasan || { echo "sanitizers: $addon does not link libasan" >&2; exit 1; }

export CAPSULE_NATIVE_ADDON="$addon"
export LD_PRELOAD="$asan:$ubsan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# It loads (the runtimes first), or every test of the addon would skip as if it were not built.
node -e "require(process.env.CAPSULE_NATIVE_ADDON)"
echo "sanitizers: running ${files[*]}"
log="$work/vitest.log"
npx vitest run "${files[@]}" 2>&1 | tee "$log"
# Every test ran: none skipped (a skip would hide the addon not loading), none failed.
summary=$(grep -E '^tests: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$log" | tail -1)
[[ "$summary" =~ ^tests:\ ([0-9]+)\ passed,\ 0\ failed,\ 0\ skipped ]] ||
  { echo "sanitizers: expected every test to pass and none to skip, got '${summary:-no summary}'" >&2; exit 1; }
echo "sanitizers: ${BASH_REMATCH[1]} tests passed against the sanitizer build"
