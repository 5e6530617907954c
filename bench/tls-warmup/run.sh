#!/usr/bin/env bash
# What the first AWS SDK request of a process costs over TLS vs plain HTTP (issue 16 item 7).
# Usage: bench/tls-warmup/run.sh [RUNS=20]. Prints one JSON line per run and variant:
# the process CPU and wall ms of the first, second and third DescribeEndpoints of one client,
# and of the first request of a second client (a new connection in a warmed-up process).
set -euo pipefail
cd "$(dirname "$0")"
runs="${1:-20}"
cargo build --release --quiet
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
# A private CA and a leaf for 127.0.0.1 (RSA-2048, as the test measured).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" -days 1 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$tmp/leaf.key" -out "$tmp/leaf.csr" -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$tmp/ext.cnf"
openssl x509 -req -in "$tmp/leaf.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -out "$tmp/leaf.pem" -days 1 -extfile "$tmp/ext.cnf" 2>/dev/null
cat "$tmp/leaf.pem" "$tmp/ca.pem" > "$tmp/chain.pem"
cat /etc/ssl/certs/ca-certificates.crt "$tmp/ca.pem" > "$tmp/bundle.pem"
python3 server.py > "$tmp/plain.port" &
python3 server.py "$tmp/chain.pem" "$tmp/leaf.key" > "$tmp/tls.port" &
while [ ! -s "$tmp/plain.port" ] || [ ! -s "$tmp/tls.port" ]; do sleep 0.1; done
plain=$(head -1 "$tmp/plain.port"); tls=$(head -1 "$tmp/tls.port")
for _ in $(seq 1 "$runs"); do
  echo "{\"v\":\"plain\",\"r\":[$(SSL_CERT_FILE="$tmp/bundle.pem" target/release/tls-warmup "http://127.0.0.1:$plain" | paste -sd, -)]}"
  echo "{\"v\":\"tls\",\"r\":[$(SSL_CERT_FILE="$tmp/bundle.pem" target/release/tls-warmup "https://127.0.0.1:$tls" | paste -sd, -)]}"
done
