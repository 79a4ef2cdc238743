# Stand-in for postgres:18 (no registry here): PostgreSQL 15 from Debian's packages on the
# local base image. It honours what compose.yaml gives postgres:18: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, data under /var/lib/postgresql, pg_isready.
FROM python:3.11-slim
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      postgresql-15 && rm -rf /var/lib/apt/lists/* \
    && pg_dropcluster 15 main  # the package's own cluster; the entrypoint makes ours
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
