# The demo HTTP service the compose deployment puts behind each worker: the same static
# binary, started as `murphy demo-service`.
FROM scratch
COPY murphy /murphy
EXPOSE 9000
ENTRYPOINT ["/murphy", "demo-service", "--listen", "0.0.0.0:9000"]
