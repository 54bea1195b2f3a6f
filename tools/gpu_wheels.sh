#!/usr/bin/env bash
# Prepare, on a machine with PyPI, what tools/gpu_check.sh needs on a bare GPU machine (issue 23):
#   bash tools/gpu_wheels.sh [DIR]          (default gpu_wheels/, git-ignored; carry it to the GPU machine)
# DIR/wheels/    the course's packages that machine lacks (python 3.12, manylinux x86_64 or pure Python), at
#                this venv's versions, downloaded with --no-deps: the list below is their whole closure minus
#                what the machine has (torch, numpy, pyyaml, requests, jinja2, pygments, msgpack, regex, ...,
#                /work/.library/device/KINDS.md) and minus optional ones nothing here imports (debugpy, jedi,
#                parso, widgetsnbextension). wordfreq's 57 MB wheel is slimmed to its English word lists
#                (the course calls top_n_list("en")); its name and version stay.
# DIR/fixtures/  the reference fixtures the check's tests read ($STIRER_FIXTURES, default ../shared/fixtures):
#                the STIRER one xz-compressed, the 33 MB CRNN weights left out (gpu_check rebuilds them from
#                their seed and checks their sha256), official_metrics.pt left out (no GPU test reads it).
# DIR/wheels/COMMIT  this tree's commit (.git does not travel).
# Never installs anything; the GPU machine installs DIR/wheels with pip --no-index --no-deps --target.
# A device call carries the working tree and its carry paths, 64 MiB in all: the last line says whether
# gpu_wheels fits in one call or needs two (fixtures first, then wheels: ignored paths stay between calls).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_wheels}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
FIXTURES=${STIRER_FIXTURES:-../shared/fixtures}
PACKAGES="lmdb papermill nbformat nbclient nbconvert ipykernel ipython jupyter-client jupyter-core traitlets
  tornado pyzmq comm matplotlib-inline nest-asyncio2 ipython-pygments-lexers prompt-toolkit wcwidth pexpect
  ptyprocess stack-data asttokens executing pure-eval platformdirs ipywidgets jupyterlab-widgets jsonschema
  jsonschema-specifications referencing rpds-py fastjsonschema bleach webencodings tinycss2 defusedxml mistune
  pandocfilters beautifulsoup4 soupsieve jupyterlab-pygments entrypoints tenacity wordfreq ftfy langcodes locate
  jupyter-server-mathjax"

pins() {  # NAME==VERSION of this venv for each package (the versions the CPU tests ran with)
  "$PY" - "$@" <<'EOF'
import importlib.metadata as md, sys
for name in sys.argv[1:]:
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        print(name)
EOF
}

rm -rf "$OUT/wheels"
mkdir -p "$OUT/wheels"
# shellcheck disable=SC2086  # the package list splits on purpose
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 --platform any -d "$OUT/wheels" $(pins $PACKAGES) 2>&1 | grep -v "is ignored" || true
[ "$(ls "$OUT"/wheels/*.whl | wc -l)" -eq "$(echo $PACKAGES | wc -w)" ] || { echo "pip download missed some packages" >&2; exit 1; }

"$PY" - "$OUT/wheels" <<'EOF'
"""Slim wordfreq's wheel to its English data (and rewrite its RECORD); check every requirement is met."""
import re, sys, zipfile
from pathlib import Path
wheels = Path(sys.argv[1])
whl = next(wheels.glob("wordfreq-*.whl"))
tmp = whl.with_suffix(".tmp")
with zipfile.ZipFile(whl) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
    keep = lambda n: not n.startswith("wordfreq/data/") or "_en." in n
    for info in src.infolist():
        if not keep(info.filename):
            continue
        data = src.read(info)
        if info.filename.endswith(".dist-info/RECORD"):
            data = "".join(ln for ln in data.decode().splitlines(True) if keep(ln.split(",")[0])).encode()
        dst.writestr(info, data)
tmp.replace(whl)
# the GPU machine's packages (KINDS.md) that these wheels may need
have = set("""attrs certifi charset-normalizer click idna jinja2 markupsafe packaging psutil pygments pyyaml
requests urllib3 typing-extensions python-dateutil six tqdm msgpack regex aiohttp""".split())
# optional: nothing the course runs imports them (jupyter-server: the runner finds MathJax without importing
# jupyter_server_mathjax)
optional = {"debugpy", "jedi", "widgetsnbextension", "jupyter-server"}
from packaging.requirements import Requirement
gpu_python = {"python_version": "3.12", "python_full_version": "3.12.0", "implementation_name": "cpython",
              "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
              "os_name": "posix", "platform_machine": "x86_64", "extra": ""}
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
names = {norm(p.name.split("-")[0]) for p in wheels.glob("*.whl")}
unmet = []
for p in wheels.glob("*.whl"):
    with zipfile.ZipFile(p) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    for line in re.findall(r"^Requires-Dist: (.+)$", meta, re.M):
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(gpu_python):
            continue
        if norm(req.name) not in names | have | optional:
            unmet.append(f"{p.name}: {line}")
print("requirements not covered:", unmet or "none")
sys.exit(1 if unmet else 0)
EOF

if [ -f "$FIXTURES/README.md" ]; then
  "$PY" tools/gpu_check.py pack-fixtures "$FIXTURES" "$OUT/fixtures"
else
  echo "no reference fixtures at $FIXTURES (set STIRER_FIXTURES): the GPU check's tests step will fail" >&2
fi
git rev-parse HEAD > "$OUT/wheels/COMMIT" 2>/dev/null || true  # .git does not travel

mib() { du -sb "$@" | awk '{s += $1} END {printf "%.1f", s / 1048576}'; }
# what a device call carries besides gpu_wheels: tracked and untracked-not-ignored files
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | awk '$2 == "total" {s += $1}
  END {printf "%.1f", s / 1048576}')
echo "$OUT: wheels $(mib "$OUT/wheels") MiB ($(ls "$OUT"/wheels/*.whl | wc -l) files), fixtures" \
     "$(mib "$OUT/fixtures" 2>/dev/null || echo 0) MiB; the working tree travels with them: $tree MiB"
awk -v t="$tree" -v w="$(mib "$OUT/wheels")" -v f="$(mib "$OUT/fixtures")" -v o="$OUT" 'BEGIN {
  if (t + w + f < 62) print "one device call: carry [\"" o "\"] (" t + w + f " MiB of 64)";
  else if (t + f < 62) print "two device calls on the same warm machine (" t + w + f " MiB would exceed 64): first carry [\"" \
    o "/fixtures\"] (" t + f " MiB; command: bash tools/gpu_check.sh $OUT --work /tmp/gpu_check --steps environment,fixtures), then at " \
    "once carry [\"" o "/wheels\"] (" t + w " MiB) and run the whole check: ignored paths stay between calls";
  else { print "the working tree (" t " MiB) leaves too little room for the fixtures: see README, \"The GPU check\""; exit 1 } }'
