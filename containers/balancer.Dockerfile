# Stand-in for nginx:1.29-alpine (no registry here): nginx from Debian's packages. compose.yaml
# mounts its configuration (containers/balancer.conf).
FROM python:3.11-slim
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      nginx-light wget && rm -rf /var/lib/apt/lists/*
EXPOSE 8000 8001
ENTRYPOINT ["nginx", "-g", "daemon off;"]
