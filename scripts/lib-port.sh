# Sourced by the CI scripts: free_port prints a TCP port on 127.0.0.1 that nothing listens
# on (bash's /dev/tcp, so no python or netcat is needed).
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "free_port: no free port found" >&2
  return 1
}
