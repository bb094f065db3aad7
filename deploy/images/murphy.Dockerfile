# Murphy: coordinator, worker and CLI in one static binary (CGO_ENABLED=0), nothing else.
# Built by `make images` with bin/ as the context, so the context is one file.
FROM scratch
COPY murphy /murphy
EXPOSE 7400 7401 7402
ENTRYPOINT ["/murphy"]
CMD ["--help"]
