#!/usr/bin/env bash
# Configures and builds herdless in other build types and with other compilers than `make test`'s
# tree (RelWithDebInfo, GCC), warnings as errors unless WERROR=OFF: a build type or compiler
# whose optimizer warns differently (GCC 12's -Wrestrict at -O3 in Release) fails here first.
#
#   scripts/build-types.sh [TYPE...]        default: Release
#   COMPILERS="gcc clang-16"                 gcc, clang, clang-N (C and C++ compilers of that name)
#   TARGETS="herdless unit_tests"            what to build in each tree
#   TEST=1                                   also run the unit tests of each tree
#   DIR=build-{type}-{cc}                    the tree of each pair ({type} lower case); KEEP=0 removes it
#
# Prints one line per tree (type, compiler, seconds, ok/FAILED, compiler warnings) and exits 1
# if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
types=("$@")
[ ${#types[@]} -eq 0 ] && types=(Release)
read -r -a compilers <<< "${COMPILERS:-gcc}"
read -r -a targets <<< "${TARGETS:-herdless unit_tests}"
werror=${WERROR:-ON}
jobs=${JOBS:-$(nproc)}
dir_pattern=${DIR:-"build-{type}-{cc}"}
failed=0
summary=()
for type in "${types[@]}"; do
  for cc in "${compilers[@]}"; do
    case "$cc" in
      gcc*) cxx=${cc/gcc/g++} ;;
      clang*) cxx=${cc/clang/clang++} ;;
      *) echo "unknown compiler '$cc' (want gcc, clang or clang-N)" >&2; exit 2 ;;
    esac
    lower=$(echo "$type" | tr '[:upper:]' '[:lower:]')
    dir=$(printf '%s' "$dir_pattern" | sed "s/{type}/$lower/g; s/{cc}/$cc/g")
    start=$(date +%s)
    log="$dir.log"
    mkdir -p "$(dirname "$log")"
    result=ok
    if ! { cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DHERDLESS_WERROR="$werror" \
             -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" &&
           cmake --build "$dir" -j "$jobs" --target "${targets[@]}"; } > "$log" 2>&1; then
      result=FAILED
    elif [ "${TEST:-0}" = 1 ] && ! (cd "$dir" && ctest -L unit -j 2 --timeout 300 --output-on-failure) >> "$log" 2>&1; then
      result="FAILED (unit tests)"
    fi
    seconds=$(( $(date +%s) - start ))
    warnings=$(grep -c 'warning:' "$log" || true)
    line=$(printf '%-15s %-9s %5ss  %-8s %s warnings' "$type" "$cc" "$seconds" "$result" "$warnings")
    echo "$line"
    summary+=("$line")
    if [ "$result" != ok ]; then
      failed=1
      grep -m 20 -E 'error|FAILED' "$log" | sed 's/^/    /'
      echo "    (whole log: $log)"
    elif [ "${KEEP:-1}" = 0 ]; then
      rm -rf "$dir" "$log"
    else
      rm -f "$log"
    fi
  done
done
if [ ${#summary[@]} -gt 1 ]; then
  echo "--- summary (targets: ${targets[*]}; -Werror: $werror)"
  printf '%s\n' "${summary[@]}"
fi
exit $failed
