#!/usr/bin/env bash
# Creates .venv and installs recon into it.
#   bash setup.sh          # runtime
#   bash setup.sh dev      # + test tools
# torch: on a machine without an NVIDIA GPU the CPU build is installed (no multi-GB CUDA download);
# with `nvidia-smi` present, PyPI's default CUDA build. Override with TORCH_SPEC, e.g.
#   TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126" bash setup.sh
set -euo pipefail
cd "$(dirname "$0")"

extra=""
[ "${1:-}" = "dev" ] && extra="[dev]"
python=${PYTHON:-python3}

if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0\.so'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing libusb-1.0-0 (open3d needs it)"
    (apt-get update -qq && apt-get install -y -qq libusb-1.0-0) >/dev/null
  else
    echo "setup: open3d needs the system library libusb-1.0, which is missing." >&2
    echo "       Install it (Debian/Ubuntu: sudo apt-get install libusb-1.0-0) and run setup.sh again." >&2
    exit 1
  fi
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=".venv/bin/python -m pip"
$pip install -q --upgrade pip

torch_version=2.13.0
local_wheel=""
for dir in ${PIP_FIND_LINKS:-} /opt/wheels; do   # a CPU wheel already on this machine (no download)
  ls "$dir"/torch-"$torch_version"+cpu-*.whl >/dev/null 2>&1 && { local_wheel=$dir; break; }
done
if [ -n "${TORCH_SPEC:-}" ]; then
  torch_spec=$TORCH_SPEC
elif command -v nvidia-smi >/dev/null 2>&1; then
  torch_spec="torch==$torch_version"                      # PyPI's Linux wheel: CUDA build
elif [ -n "$local_wheel" ]; then
  torch_spec="--find-links $local_wheel torch==$torch_version"
else
  torch_spec="torch==$torch_version --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple"
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing $torch_spec"
  $pip install -q $torch_spec
fi
$pip install -q -e ".$extra"
.venv/bin/python -c "import torch, open3d, pytorch_lightning; print(f'setup: ok (torch {torch.__version__}, cuda={torch.cuda.is_available()}, open3d {open3d.__version__}, lightning {pytorch_lightning.__version__})')"
