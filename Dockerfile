# Images of both binaries, from one build:
#   docker build --target operator -t ghcr.io/apigw/apigw-operator:0.1.0 .
#   docker build --target gateway  -t ghcr.io/apigw/apigw-gateway:0.1.0 .
# Both run as a non-root user on a read-only root filesystem (the chart sets
# readOnlyRootFilesystem); they write nothing to disk. The base images are arguments so that
# a mirror (or, in `make image-test`, local stand-ins) can replace them.
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p apigw-operator -p apigw-gateway --bins \
 && mkdir -p /out && cp target/release/apigw-operator target/release/apigw-gateway /out/

# distroless/cc: glibc and CA certificates, no shell; "nonroot" is uid 65532.
FROM ${RUNTIME_IMAGE} AS operator
COPY --from=build /out/apigw-operator /usr/local/bin/apigw-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/apigw-operator"]

FROM ${RUNTIME_IMAGE} AS gateway
COPY --from=build /out/apigw-gateway /usr/local/bin/apigw-gateway
USER 65532:65532
EXPOSE 8080 8443 8081 9090
ENTRYPOINT ["/usr/local/bin/apigw-gateway"]
