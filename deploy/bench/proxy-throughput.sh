#!/usr/bin/env bash
# Measures the worker's HTTP fault proxy against direct access with wrk at 16 keep-alive
# connections, as separate processes on this host: the demo service as upstream (with a
# given CPU cost per request), a worker whose proxy fronts it (no fault active), and wrk.
# Rounds alternate direct and proxied so drift in the machine's load hits both.
#
#   deploy/bench/proxy-throughput.sh [rounds] [seconds]      (needs: wrk, bin/murphy)
#   WORKS="0 20us" deploy/bench/proxy-throughput.sh            (only these upstream costs)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
secs=${2:-4}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[ -x bin/murphy ] || make build >/dev/null
tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
up=127.0.0.1:19100
px=127.0.0.1:19101
# The worker never reaches a coordinator here (nothing listens on :1); only its proxy is
# measured, so it runs as an insecure lab worker.
bin/murphy worker --id bench --coordinators 127.0.0.1:1 --data-dir "$tmp/w" --log-level error \
  --insecure --labels region=bench,datacenter=bench \
  --proxy "listen=$px,upstream=http://$up" 2>"$tmp/worker.log" & pids+=($!)
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/${px%:*}/${px#*:}") 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "the worker exited:" >&2; cat "$tmp/worker.log" >&2; exit 1; }
  sleep 0.1
done
rps() { wrk -t1 -c16 -d"${secs}s" "http://$1/" | awk '/Requests\/sec/{print $2}'; }
printf "%-10s %12s %12s %7s\n" "work/req" "direct/s" "proxied/s" "ratio"
for work in ${WORKS:-0 20us 100us 1ms}; do
  bin/murphy demo-service --listen "$up" --latency 0 --work "$work" >/dev/null & svc=$!
  sleep 0.5
  d_sum=0; p_sum=0
  for _ in $(seq "$rounds"); do
    d=$(rps "$up"); p=$(rps "$px")
    d_sum=$(echo "$d_sum + $d" | bc); p_sum=$(echo "$p_sum + $p" | bc)
  done
  printf "%-10s %12.0f %12.0f %7.2f\n" "$work" "$(echo "$d_sum/$rounds" | bc -l)" "$(echo "$p_sum/$rounds" | bc -l)" "$(echo "$p_sum/$d_sum" | bc -l)"
  kill $svc; wait $svc 2>/dev/null || true
done
