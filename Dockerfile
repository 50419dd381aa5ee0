# One image for every skillcert service; SERVICE picks which one runs (registry, recognition,
# certificates, supervision, query). Settings come from the environment, see docs/operations.md.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY shared ./shared
COPY services ./services
COPY infra ./infra
RUN pip install --no-cache-dir --no-deps . && useradd --system --uid 10001 skillcert
USER skillcert
ENV SERVICE=query
EXPOSE 8000
# No access log: a request line may carry what a client typed. No proxy headers: the query service takes the client
# address from X-Forwarded-For itself, and only from QUERY_TRUSTED_PROXIES (docs/query.md, Fair use).
CMD ["sh", "-c", "exec uvicorn --factory services.${SERVICE}.app:create --host 0.0.0.0 --port 8000 --no-access-log --no-proxy-headers"]
