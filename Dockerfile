# riskd container: a static binary on distroless, running as non-root.
# Build: docker build -t riskd .
# The build stage's commands are plain Go commands; scripts/test.sh runs the
# same `go build` line so that a broken image build shows up without Docker.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/riskd ./cmd/riskd \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/riskd /usr/local/bin/riskd
# The embedded store's directory, owned by the nonroot user (65532).
COPY --from=build --chown=65532:65532 /out/data /var/lib/riskd
USER 65532:65532
# Listening beyond loopback needs callers: mount a config file with them
# (and TLS) at /etc/riskd/riskd.yaml, or riskd refuses to start, saying so.
ENV RISKD_LISTEN=0.0.0.0:50051 \
    RISKD_DATA_DIR=/var/lib/riskd \
    RISKD_CONFIG=/etc/riskd/riskd.yaml
EXPOSE 50051
VOLUME ["/var/lib/riskd"]
# The binary is its own probe: no shell or grpc_health_probe in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/riskd", "health", "--addr", "127.0.0.1:50051", "--tls-skip-verify"]
ENTRYPOINT ["/usr/local/bin/riskd"]
