#!/bin/sh
# Tests the ws3 Helm chart: helm lint --strict, renders of every TLS source with checks on the
# manifests, schema checks, Kubernetes schema validation, and static checks of values.yaml against
# values.schema.json and the templates. See test_chart.py for the list.
#
# Installs what it needs (requirements-test.txt) into a virtualenv it reuses:
#   $WS3_CHART_VENV, default ${XDG_CACHE_HOME:-$HOME/.cache}/ws3-chart-test/venv
# (not under ~/.cache/ws3: that is ws3's module cache, whose cleanup deletes foreign files).
# Needs python3 (3.10+) with venv, openssl, and PyPI. Exits non-zero on any failure.
#   charts/test.sh                 everything
#   charts/test.sh --static-only   only the checks that need no Helm (still uses the venv)
set -eu

here=$(CDPATH="" cd -- "$(dirname -- "$0")" && pwd)
python=${PYTHON:-python3}
venv=${WS3_CHART_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ws3-chart-test/venv}
reqs="$here/requirements-test.txt"

command -v "$python" >/dev/null 2>&1 || { echo "charts/test.sh: $python not found" >&2; exit 1; }
command -v openssl >/dev/null 2>&1 || { echo "charts/test.sh: openssl not found" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$reqs" "$venv/.ws3-requirements" \
    || ! "$venv/bin/python" -c "import helm_python, kubernetes_validate, yaml, jsonschema, celpy" 2>/dev/null; then
    echo "# setting up $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs"
    cp "$reqs" "$venv/.ws3-requirements"
fi

exec "$venv/bin/python" "$here/test_chart.py" "$@"
