#!/usr/bin/env bash
# Install the Debian packages the test suite and the benchmark start for real, if missing.
set -euo pipefail

# program -> Debian package
declare -A needed=([wrk]=wrk [prometheus]=prometheus [promtool]=prometheus [chromium]=chromium)

# A package once, even when several of its programs are missing (prometheus, promtool).
declare -A packages=()
for program in "${!needed[@]}"; do
    command -v "$program" >/dev/null 2>&1 || packages[${needed[$program]}]=1
done
# The parity ledger's tests start PostgreSQL's own programs, which are not on PATH.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages[postgresql]=1
[ ${#packages[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${!packages[@]}" | sort)

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo"
else
    echo "system-deps: missing ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
    echo "system-deps: the tests that need them will say so and be skipped (never in CI)" >&2
    exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
