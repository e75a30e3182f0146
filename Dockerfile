# The otelcol-releasegate image, built as the collector's distributions
# build theirs: the static binary of `make build`, CA certificates, a
# non-root user, nothing else. `make image` puts them in its build context
# (_build/image) and builds it with podman or docker.
#
# The configuration is mounted at /etc/otelcol-releasegate/config.yaml (see
# deploy/kubernetes/), the gates beside it.
FROM scratch

COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY otelcol-releasegate /otelcol-releasegate

USER 10001:10001

# OTLP gRPC and HTTP, the collector's own metrics, the releasegate
# exporter's API and /metrics, health_check.
EXPOSE 4317 4318 8888 9464 13133

ENTRYPOINT ["/otelcol-releasegate"]
CMD ["--config", "/etc/otelcol-releasegate/config.yaml"]
