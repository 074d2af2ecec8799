# The sample services (and the rest of gauntlet) as an image, for docker-compose.test.yml and
# Kubernetes load workers: docker build -t gauntlet/services .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin gauntlet

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/gauntlet /usr/local/bin/gauntlet
ENTRYPOINT ["/usr/local/bin/gauntlet"]
