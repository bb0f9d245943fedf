#!/usr/bin/env bash
# Sets up Voice Layer on Debian/Ubuntu with Node 20.19+: system packages, npm packages, build.
#   bash scripts/setup.sh          what the service needs to run
#   bash scripts/setup.sh --test   plus what the test suites need
set -euo pipefail
cd "$(dirname "$0")/.."

need_node="20.19.0"
have_node="$(node -p 'process.versions.node' 2>/dev/null || echo 0)"
if ! node -e "const [a,b]='${have_node}'.split('.').map(Number);const [c,d]='${need_node}'.split('.').map(Number);process.exit(a>c||(a===c&&b>=d)?0:1)"; then
  echo "Voice Layer needs Node ${need_node} or newer (found ${have_node})." >&2
  exit 1
fi

# Debian packages: PocketSphinx and its en-US model for the embedded speech recognition.
# (Without them the service still starts; speech input is then reported unavailable.)
packages=(libpocketsphinx3 pocketsphinx-en-us)
# The browser tests drive Debian's chromium (headless) with playwright-core; no browser is downloaded.
# The registration store tests start their own redis-server (REGISTRATION_STORE=redis).
# The load-balancer test runs nginx (as the current user, on loopback) with deploy/nginx/voice-layer.conf.
if [[ "${1:-}" == "--test" ]]; then packages+=(chromium redis-server nginx); fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else sudo="none"; fi
  if [[ "$sudo" == "none" ]] || ! { echo "Installing Debian packages: ${missing[*]}" &&
    $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
    echo "Could not install: ${missing[*]}. Install them with apt-get (as root)." >&2
    # The service runs without them (no speech input); the tests need them.
    [[ "${1:-}" == "--test" ]] && exit 1
    echo "Continuing: the service will start without speech input." >&2
  fi
fi

npm ci --no-audit --no-fund
npm run build
