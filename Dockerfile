# The production image: one image, one process per container (see compose.yaml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY write_side write_side
COPY projections projections
COPY read_side read_side
COPY http_edge http_edge
COPY eventshop eventshop
RUN pip install --no-cache-dir . && useradd --system eventshop
USER eventshop
# Production settings: the development JWT secret and embedded servers are refused;
# compose.yaml (or the orchestrator) must provide EVENTSHOP_JWT_SECRET and server URLs.
ENV EVENTSHOP_HOST=0.0.0.0 \
    EVENTSHOP_ENV=production
ENTRYPOINT ["eventshop"]
