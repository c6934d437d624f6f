#!/usr/bin/env bash
# Start the local services the tests talk to, if they are not already up (idempotent).
# NATS with JetStream on 127.0.0.1:4222 and Mosquitto on 127.0.0.1:1883, as on the dev machines.
set -u
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! up 4222; then
  echo "starting nats-server (JetStream) on 127.0.0.1:4222"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
if ! up 1883; then
  echo "starting mosquitto on 127.0.0.1:1883"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
for port in 4222 1883; do
  for _ in $(seq 1 50); do up "$port" && break; sleep 0.2; done
  up "$port" || echo "warning: nothing listens on 127.0.0.1:$port" >&2
done
