# The production image: one image, one process per container (compose.yaml).
# Built from the package's wheel, so it holds exactly what pyproject.toml names: a package
# added to the project is in the image, or the build fails. The embedded development
# servers (the `embedded` extra) are not: production points at real ones.
FROM python:3.11-slim AS wheel
WORKDIR /src
# The whole checkout (.dockerignore leaves out tests, benches, docs and local state): the
# wheel takes the packages pyproject.toml lists, so a new one needs no line here.
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --create-home --home-dir /home/eventshop eventshop \
    && mkdir -p /data/mail && chown -R eventshop /data
USER eventshop
WORKDIR /home/eventshop
# Production settings: the development JWT secret and embedded servers are refused;
# compose.yaml (or the orchestrator) must provide EVENTSHOP_JWT_SECRET and server URLs.
ENV EVENTSHOP_HOST=0.0.0.0 \
    EVENTSHOP_ENV=production \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["eventshop"]
CMD ["--help"]
