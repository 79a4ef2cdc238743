# The production image: one image, one process per container (see compose.yaml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY write_side write_side
COPY projections projections
COPY read_side read_side
COPY eventshop eventshop
RUN pip install --no-cache-dir . && useradd --system eventshop
USER eventshop
ENV EVENTSHOP_HOST=0.0.0.0
ENTRYPOINT ["eventshop"]
