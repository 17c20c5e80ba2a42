# The demo service (acceptance_tests/app) served by c2cwsgiutils_run.
#   docker build -t c2cwsgiutils-demo . && docker run -p 8080:8080 c2cwsgiutils-demo
# Uses SQLite in /app/var unless SQLALCHEMY_URL is given (postgresql://user:password@host/db).

# Wheels are built where a C compiler is (the hot paths are compiled with mypyc, see setup.py);
# the slim image only installs them.
FROM python:3.11 AS wheels
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/c2cwsgiutils
COPY pyproject.toml setup.py README.md ./
COPY c2cwsgiutils ./c2cwsgiutils
COPY acceptance_tests/app /opt/c2cwsgiutils-demo
RUN pip wheel --wheel-dir /wheels ".[standard]" /opt/c2cwsgiutils-demo

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    XDG_RUNTIME_DIR=/tmp

RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "c2cwsgiutils[standard]" c2cwsgiutils-demo

WORKDIR /app
COPY acceptance_tests/app/production.ini /app/production.ini
RUN mkdir -p /app/var && chown nobody:nogroup /app/var
USER nobody

EXPOSE 8080
# /app/production.ini is c2cwsgiutils_run's default ini file (C2CWSGIUTILS_CONFIG changes it).
CMD ["c2cwsgiutils_run", "--bind", "0.0.0.0:8080", "--workers", "2", "--timeout", "90"]
