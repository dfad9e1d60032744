# syntax=docker/dockerfile:1

# Build stage. Checked queries use the committed .sqlx data, so no database is needed here.
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target folder between builds; the
# binary is copied out because the target mount is gone after this step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && cp target/release/latchkey /usr/local/bin/latchkey

# Runtime stage.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --user-group --uid 10001 \
        --home-dir /var/lib/latchkey --create-home --shell /usr/sbin/nologin latchkey
COPY --from=builder /usr/local/bin/latchkey /usr/local/bin/latchkey
USER latchkey
WORKDIR /var/lib/latchkey
ENV LATCHKEY_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["latchkey"]
CMD ["serve"]
