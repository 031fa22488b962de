# The tkroom node with everything it can use on one host: the embedded Janus (and janus-pp-rec
# for recordings), ffmpeg, the courseware converters (LibreOffice, poppler, CJK fonts) and coturn.
# docs/operations.md, "Install with compose". Only Debian packages and PyPI are downloaded.

# 1. The wheel, built from this tree (it carries the classroom pages, tkroom.js and the
#    migrations).
FROM debian:bookworm-slim AS wheel
# A TLS-intercepting proxy between the build and PyPI: pass its CA certificate (PEM text) with
# --build-arg EXTRA_CA_CERT="$(cat proxy-ca.crt)". It is trusted while building only.
ARG EXTRA_CA_CERT=""
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$EXTRA_CA_CERT" ]; then printf '%s\n' "$EXTRA_CA_CERT" > /usr/local/share/ca-certificates/build-extra.crt && update-ca-certificates; fi
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip wheel --no-deps --no-cache-dir -w /dist .

# 2. The node.
FROM debian:bookworm-slim
ARG EXTRA_CA_CERT=""
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates tini util-linux \
      janus janus-tools coturn ffmpeg \
      libreoffice-nogui poppler-utils fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*
COPY --from=wheel /dist /dist
RUN if [ -n "$EXTRA_CA_CERT" ]; then printf '%s\n' "$EXTRA_CA_CERT" > /usr/local/share/ca-certificates/build-extra.crt && update-ca-certificates; fi \
 && python3 -m venv /opt/tkroom \
 && PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/tkroom/bin/pip install --no-cache-dir "$(ls /dist/tkroom-*.whl)[server]" \
 && rm -rf /dist /usr/local/share/ca-certificates/build-extra.crt \
 && update-ca-certificates --fresh >/dev/null

# A system user of its own; the data folder (secret, SQLite store, files, recordings) is a
# volume it owns. Nothing else in the image is writable by it.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/tkroom --shell /usr/sbin/nologin tkroom \
 && install -d -o tkroom -g tkroom -m 0700 /var/lib/tkroom
ENV PATH=/opt/tkroom/bin:$PATH \
    TKROOM_DATA=/var/lib/tkroom \
    TKROOM_HOST=0.0.0.0 \
    TKROOM_PORT=8080 \
    TKROOM_SIGNAL_PORT=8081 \
    TKROOM_RTP_PORTS=20000-20099
VOLUME ["/var/lib/tkroom"]
WORKDIR /var/lib/tkroom
USER tkroom

# 8080/tcp: HTTP (WebAPI, ClientAPI, classroom page, /healthz, /readyz)
# 8081/tcp: signalling WebSocket
# 20000-20099/udp: the embedded Janus's RTP/RTCP (TKROOM_RTP_PORTS)
EXPOSE 8080/tcp 8081/tcp 20000-20099/udp

# Liveness only; compose.yaml checks /readyz (database, Redis, media) instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TKROOM_PORT', '8080'), timeout=4)"]

# tini reaps LibreOffice's and Janus's children and passes SIGTERM on to the node, which then
# turns not-ready, drains and stops its own Janus.
ENTRYPOINT ["/usr/bin/tini", "--", "tkroom"]
CMD ["serve"]
STOPSIGNAL SIGTERM
