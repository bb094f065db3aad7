# Optional: Prometheus for the compose deployment's `prometheus` profile, built from the
# host's own prometheus binary and the shared libraries it needs (`make image-prometheus`
# stages them in the context; no base image is pulled).
FROM scratch
COPY rootfs/ /
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
