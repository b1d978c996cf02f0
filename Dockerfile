# riskd container: a static binary on distroless, running as non-root.
# Build: docker build -t riskd .
# The build stage's RUN lines are plain commands: cmd/riskd/container_test.go
# runs them as written (with OUT pointing into a temporary directory) and
# starts the binary they build with this file's ENV, USER and HEALTHCHECK,
# so a broken image shows up without Docker.

# Where the build stage leaves what the image copies.
ARG OUT=/out

FROM golang:1.26-bookworm AS build
ARG OUT
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The data directory is made here because the final stage has no shell to
# make it; COPY --chown below gives it to the user riskd runs as.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$OUT/riskd" ./cmd/riskd \
 && mkdir -p "$OUT/data"

FROM gcr.io/distroless/static-debian12:nonroot
ARG OUT
COPY --from=build ${OUT}/riskd /usr/local/bin/riskd
# The embedded store's directory, owned by the nonroot user (65532), so a
# named volume mounted there starts out writable by riskd.
COPY --from=build --chown=65532:65532 ${OUT}/data /var/lib/riskd
USER 65532:65532
# Listening beyond loopback needs callers: mount a config file with them
# (and TLS) at /etc/riskd/riskd.yaml, or riskd refuses to start, saying so.
# Configure the container here, in that file or with -e RISKD_*, not with
# flags after the image name: the health check reads the same file and
# environment, but not the server's command line.
ENV RISKD_LISTEN=0.0.0.0:50051 \
    RISKD_DATA_DIR=/var/lib/riskd \
    RISKD_CONFIG=/etc/riskd/riskd.yaml
EXPOSE 50051
VOLUME ["/var/lib/riskd"]
# The binary is its own probe: no shell or grpc_health_probe in the image.
# With no flags, `riskd health` reads the server's own configuration and
# asks its port, over TLS when the config has a certificate, so nothing
# here can disagree with how riskd was started.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/riskd", "health"]
ENTRYPOINT ["/usr/local/bin/riskd"]
