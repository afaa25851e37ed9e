# Shared by scripts/serve and scripts/test: a project virtualenv and Debian packages on demand.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TAGTRAIL_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_ensure PACKAGE...: install the Debian packages that are not installed yet.
apt_ensure() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "installing Debian packages: ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
}

# ensure_venv EXTRAS: create the virtualenv and (re)install the project when pyproject changed.
ensure_venv() {
    local extras="${1:-}"
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "tagtrail needs Python 3.11 or newer as $PYTHON" >&2
        exit 1
    fi
    # Debian ships venv without ensurepip until python3-venv is installed.
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        apt_ensure python3-venv
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.tagtrail-installed" want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)[$extras]"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip >&2
        "$VENV/bin/python" -m pip install -q -e "$ROOT${extras:+[$extras]}" >&2
        echo "$want" > "$stamp"
    fi
}
