#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: unit tests, then end-to-end tests that
# drive the real kubectl against a real `berth server`. Then the same under ASan/UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
source scripts/env.sh
status=0
BUILD_DIR=build scripts/build.sh
meson test -C build --print-errorlogs --num-processes 2 || status=1
# The sanitizer build runs the unit and end-to-end suites again.
if [ "${BERTH_SKIP_SANITIZERS:-0}" != "1" ]; then
  BUILD_DIR=build-asan scripts/build.sh -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 || status=1
fi
# One closing line over every suite run above (meson writes one JSON line per test).
logs=(build/meson-logs/testlog.json)
[ "${BERTH_SKIP_SANITIZERS:-0}" = "1" ] || logs+=(build-asan/meson-logs/testlog.json)
python3 - "${logs[@]}" <<'PY'
import json, os, sys
passed = failed = 0
for path in sys.argv[1:]:
    if not os.path.exists(path):
        continue
    for line in open(path):
        if line.strip():
            if json.loads(line).get("result") == "OK":
                passed += 1
            else:
                failed += 1
print(f"tests: {passed} passed, {failed} failed")
PY
exit $status
